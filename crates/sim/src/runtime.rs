//! The runtime thread: containerd's part. It runs the containers, writes their output as
//! CRI records into `<restart>.log`, creates the `/var/log/containers` symlinks, and obeys
//! the kubelet's restarts, deletions and log reopens.
//!
//! One thread writes every container, so records of a container never interleave. Records
//! are formatted into a per-container buffer that reaches the file when it holds 64 KiB or
//! [`SimConfig::flush_interval`] has passed; a reopen is honoured before the next record.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kelp_k8s::{cri, path};

use crate::clock::NodeClock;
use crate::corpus::Corpus;
use crate::feed::Feed;
use crate::fsx::{make_dir, open_log};
use crate::ledger::{Ledger, Writer};
use crate::names::{container_id, pod_spec, PodSpec};
use crate::protocol::{Command, Event, InstanceInfo, Reopen};
use crate::report::{add, Counters, StopReason};
use crate::rng::Rng;
use crate::{SimConfig, SimError};

/// A container's buffer is written out when it holds this much.
const FLUSH_BYTES: usize = 64 * 1024;

/// One running instance of a container: its open log file and pending records.
struct Instance {
    restart: u32,
    id: String,
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    reopen: Arc<Reopen>,
}

impl Instance {
    /// Writes the buffer to the current descriptor.
    fn write_out(&mut self) -> Result<(), SimError> {
        if !self.buf.is_empty() {
            self.file
                .write_all(&self.buf)
                .map_err(SimError::io("write", &self.path))?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Honours a pending reopen: what is buffered goes to the old descriptor (the rotated
    /// file), then the new live file replaces it.
    fn reopen_if_asked(&mut self) -> Result<(), SimError> {
        if self.reopen.is_pending() {
            self.write_out()?;
            if let Some(file) = self.reopen.take() {
                self.file = file;
            }
        }
        Ok(())
    }
}

struct Container {
    feed: Feed,
    inst: Instance,
}

struct Pod {
    generation: u64,
    spec: PodSpec,
    dir: PathBuf,
    containers: Vec<Container>,
}

/// Running totals kept locally and published to [`Counters`] now and then.
#[derive(Default)]
struct Tally {
    lines: u64,
    bytes: u64,
    records: u64,
    partial: u64,
    long: u64,
    unterminated: u64,
}

/// The runtime thread's state.
pub(crate) struct Runtime<'a> {
    cfg: &'a SimConfig,
    corpus: &'a Corpus,
    counters: &'a Counters,
    clock: &'a NodeClock,
    pods_dir: PathBuf,
    links_dir: PathBuf,
    pods: Vec<Pod>,
    /// `(cumulative weight end, pod, container)` for the weighted choice of the next writer.
    picker: Vec<(u64, usize, usize)>,
    pick_rng: Rng,
    exit_rng: Rng,
    events: Sender<Event>,
    ledger: Option<Ledger>,
    scratch: Vec<u8>,
    tally: Tally,
}

impl<'a> Runtime<'a> {
    /// Starts the node's pods (files, symlinks, `Started` events).
    pub(crate) fn start(
        cfg: &'a SimConfig,
        corpus: &'a Corpus,
        counters: &'a Counters,
        clock: &'a NodeClock,
        log_root: &Path,
        events: Sender<Event>,
    ) -> Result<Self, SimError> {
        let ledger = cfg.ledger.as_deref().map(Ledger::create).transpose()?;
        let mut rt = Runtime {
            cfg,
            corpus,
            counters,
            clock,
            pods_dir: log_root.join("pods"),
            links_dir: log_root.join("containers"),
            pods: Vec::new(),
            picker: Vec::new(),
            pick_rng: Rng::derive(cfg.seed, "pick", &[]),
            exit_rng: Rng::derive(cfg.seed, "exit", &[]),
            events,
            ledger,
            scratch: Vec::new(),
            tally: Tally::default(),
        };
        make_dir(&rt.pods_dir)?;
        make_dir(&rt.links_dir)?;
        for slot in 0..cfg.pods as usize {
            let pod = rt.make_pod(slot, 0)?;
            rt.pods.push(pod);
        }
        rt.rebuild_picker();
        Ok(rt)
    }

    /// Writes lines until a limit is reached or `stop`/`abort` is raised.
    pub(crate) fn run(
        mut self,
        commands: Receiver<Command>,
        stop: &AtomicBool,
        abort: &AtomicBool,
        start: Instant,
    ) -> Result<StopReason, SimError> {
        let rate = self.cfg.lines_per_sec;
        let mut n: u64 = 0;
        let mut last_flush = Instant::now();
        let reason = loop {
            if self.cfg.lines.is_some_and(|l| n >= l) {
                break StopReason::Lines;
            }
            if n % 64 == 0 || rate.is_some() {
                if stop.load(Relaxed) || abort.load(Relaxed) {
                    break StopReason::Stopped;
                }
                while let Ok(cmd) = commands.try_recv() {
                    self.apply(cmd)?;
                }
                let now = Instant::now();
                if self.cfg.duration.is_some_and(|d| now - start >= d) {
                    break StopReason::Duration;
                }
                if now - last_flush >= self.cfg.flush_interval {
                    self.flush_all()?;
                    last_flush = now;
                }
                if let Some(rate) = rate {
                    let due = start + Duration::from_secs_f64(n as f64 / rate);
                    if now < due {
                        self.flush_all()?;
                        last_flush = now;
                        std::thread::sleep((due - now).min(Duration::from_millis(10)));
                        continue;
                    }
                }
            }
            let (p, c) = self.pick();
            self.write_line(p, c, false)?;
            n += 1;
        };
        self.flush_all()?;
        if let Some(ledger) = &mut self.ledger {
            ledger.flush()?;
        }
        Ok(reason)
    }

    fn make_pod(&mut self, slot: usize, generation: u64) -> Result<Pod, SimError> {
        let cfg = self.cfg;
        let spec = pod_spec(
            cfg.seed,
            slot,
            generation,
            cfg.containers_per_pod,
            self.corpus.is_custom(),
        );
        let dir = self
            .pods_dir
            .join(path::pod_dir_name(&spec.namespace, &spec.name, &spec.uid));
        make_dir(&dir)?;
        let mut pod = Pod {
            generation,
            spec,
            dir,
            containers: Vec::new(),
        };
        for (i, cs) in pod.spec.containers.iter().enumerate() {
            let rng = Rng::derive(cfg.seed, "feed", &[slot as u64, generation, i as u64]);
            let feed = Feed::new(self.corpus, cs.kind, rng, cfg.long_line_every);
            let inst = self.start_instance(slot, &pod, i, 0)?;
            pod.containers.push(Container { feed, inst });
        }
        add(&self.counters.containers, pod.containers.len() as u64);
        Ok(pod)
    }

    /// Creates `<pod dir>/<container>/<restart>.log` and its symlink, and tells the kubelet.
    fn start_instance(
        &self,
        slot: usize,
        pod: &Pod,
        i: usize,
        restart: u32,
    ) -> Result<Instance, SimError> {
        let name = &pod.spec.containers[i].name;
        let dir = pod.dir.join(name);
        make_dir(&dir)?;
        let path = dir.join(path::log_file_name(restart));
        let file = open_log(&path)?;
        let id = container_id(self.cfg.seed, slot, pod.generation, i, restart);
        let link = self.links_dir.join(path::legacy_symlink_name(
            &pod.spec.name,
            &pod.spec.namespace,
            name,
            &id,
        ));
        std::os::unix::fs::symlink(&path, &link).map_err(SimError::io("symlink", &link))?;
        let reopen = Arc::new(Reopen::default());
        // A kubelet gone (after an error) no longer listens; the abort flag stops us soon.
        let _ = self.events.send(Event::Started(InstanceInfo {
            pod_uid: pod.spec.uid.clone(),
            container: name.clone(),
            log_path: path.clone(),
            symlink: link,
            reopen: reopen.clone(),
        }));
        Ok(Instance {
            restart,
            id,
            path,
            file,
            buf: Vec::new(),
            reopen,
        })
    }

    fn rebuild_picker(&mut self) {
        self.picker.clear();
        let mut total = 0;
        for (p, pod) in self.pods.iter().enumerate() {
            for (c, cs) in pod.spec.containers.iter().enumerate() {
                total += u64::from(cs.weight);
                self.picker.push((total, p, c));
            }
        }
    }

    /// The container that writes next, by weight.
    fn pick(&mut self) -> (usize, usize) {
        let total = self.picker.last().map_or(0, |e| e.0);
        let r = self.pick_rng.below(total);
        let i = self.picker.partition_point(|e| e.0 <= r);
        let (_, p, c) = self.picker[i.min(self.picker.len() - 1)];
        (p, c)
    }

    /// Writes container `c` of pod `p`'s next logical line; `unterminated` leaves it without
    /// its newline (every record `P`), as when the process exits mid-line.
    fn write_line(&mut self, p: usize, c: usize, unterminated: bool) -> Result<(), SimError> {
        let pod = &mut self.pods[p];
        let container = &mut pod.containers[c];
        let (stream, line) = container.feed.next(self.corpus, &mut self.scratch);
        // containerd strips a trailing "\r\n" as a whole.
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if unterminated && line.is_empty() {
            return Ok(()); // nothing buffered: containerd writes no record
        }
        let inst = &mut container.inst;
        let t = &mut self.tally;
        let mut first = None;
        for (piece, partial) in cri::split_containerd(line, cri::CONTAINERD_MAX_LINE) {
            inst.reopen_if_asked()?;
            let ts = self.clock.now();
            first.get_or_insert(ts);
            let partial = partial || unterminated;
            let len0 = inst.buf.len();
            cri::format(&mut inst.buf, ts, stream, partial, piece);
            t.bytes += (inst.buf.len() - len0) as u64;
            t.records += 1;
            t.partial += u64::from(partial);
        }
        t.lines += 1;
        t.long += u64::from(line.len() > cri::CONTAINERD_MAX_LINE);
        t.unterminated += u64::from(unterminated);
        if let Some(ledger) = &mut self.ledger {
            let spec = &pod.spec;
            let who = Writer {
                namespace: &spec.namespace,
                pod: &spec.name,
                pod_uid: &spec.uid,
                container: &spec.containers[c].name,
                container_id: &inst.id,
                restart: inst.restart,
            };
            // `first` is set: split_containerd yields at least one piece.
            ledger.record(&who, stream, first.unwrap_or_default(), line, unterminated)?;
        }
        if inst.buf.len() >= FLUSH_BYTES {
            inst.write_out()?;
        }
        Ok(())
    }

    /// Writes every buffer out, takes pending reopens, and publishes the tally.
    fn flush_all(&mut self) -> Result<(), SimError> {
        for pod in &mut self.pods {
            for c in &mut pod.containers {
                c.inst.write_out()?;
                c.inst.reopen_if_asked()?;
            }
        }
        let t = std::mem::take(&mut self.tally);
        let k = self.counters;
        add(&k.lines, t.lines);
        add(&k.bytes, t.bytes);
        add(&k.records, t.records);
        add(&k.partial_records, t.partial);
        add(&k.long_lines, t.long);
        add(&k.unterminated_lines, t.unterminated);
        Ok(())
    }

    fn apply(&mut self, cmd: Command) -> Result<(), SimError> {
        match cmd {
            Command::Restart { slot, container } => {
                let p = (slot % self.pods.len() as u64) as usize;
                let c = (container % self.pods[p].containers.len() as u64) as usize;
                self.restart(p, c)
            }
            Command::DeletePod { slot } => {
                self.replace_pod((slot % self.pods.len() as u64) as usize)
            }
        }
    }

    /// The container's process exits and its next instance starts in `<restart + 1>.log`.
    fn restart(&mut self, p: usize, c: usize) -> Result<(), SimError> {
        if self.exit_rng.one_in(self.cfg.unterminated_exit_every) {
            self.write_line(p, c, true)?;
        }
        self.exit(p, c)?;
        let restart = self.pods[p].containers[c].inst.restart + 1;
        let inst = self.start_instance(p, &self.pods[p], c, restart)?;
        self.pods[p].containers[c].inst = inst;
        add(&self.counters.restarts, 1);
        Ok(())
    }

    /// Flushes and closes an instance's log and tells the kubelet it exited.
    fn exit(&mut self, p: usize, c: usize) -> Result<(), SimError> {
        let pod = &mut self.pods[p];
        let inst = &mut pod.containers[c].inst;
        inst.reopen_if_asked()?;
        inst.write_out()?;
        inst.reopen.exit();
        let _ = self.events.send(Event::Exited {
            pod_uid: pod.spec.uid.clone(),
            container: pod.spec.containers[c].name.clone(),
        });
        Ok(())
    }

    /// Stops the pod in slot `p`, has the kubelet remove it, and starts a new pod there.
    fn replace_pod(&mut self, p: usize) -> Result<(), SimError> {
        for c in 0..self.pods[p].containers.len() {
            self.exit(p, c)?;
        }
        let old = &self.pods[p];
        let _ = self.events.send(Event::PodRemoved {
            pod_uid: old.spec.uid.clone(),
            dir: old.dir.clone(),
        });
        let gone = old.containers.len() as u64;
        self.counters.containers.fetch_sub(gone, Relaxed);
        let generation = old.generation + 1;
        self.pods[p] = self.make_pod(p, generation)?;
        self.rebuild_picker();
        add(&self.counters.deletions, 1);
        Ok(())
    }
}
