//! The reader thread: discovery (inotify events, with a periodic full rescan as the
//! safety net), polling the chains that have something to read, labelling, batching, and
//! the bound on held-open files.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kelp_k8s::path::{PodLogPath, Rotation};
use kelp_k8s::Stream;
use kelp_model::{Entry, LabelPair, Labels, StreamEntries, Timestamp};

use crate::chain::{find_checkpointed, Chain, ChainTiming, Format, Out};
use crate::checkpoint::{Checkpoints, Mark};
use crate::kube::PodCache;
use crate::policy::Target;
use crate::process::{self, Processing, Processor, Setup};
use crate::source::rotated_siblings;
use crate::stats::Stats;
use crate::watch::{Event, Level, Watcher};
use crate::{AgentConfig, AgentError, Batch};
use inotify::EventMask;

/// The shortest time between two full rescans asked for by events (a directory came or
/// went); the periodic rescan and an overflow do not wait for it.
const MIN_RESCAN: Duration = Duration::from_millis(100);
/// Events handled per wake-up at most.
const EVENTS_PER_WAKE: usize = 4096;

/// Where a chain's files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A container log under the pods directory.
    Pod,
    /// A file of a `--files` / `--node-logs` source.
    File,
}

/// A chain and what labels its lines.
struct Tracked {
    chain: Chain,
    labels: [Labels; 2],
    metadata: Vec<LabelPair>,
    /// Whether a newer instance of the container exists, or the pod is gone (for a file
    /// source: the file is gone).
    over: bool,
    /// Multi-line joining and policy, when configured for this container log.
    process: Option<Box<Processor>>,
    /// Whether a newer instance of the container exists: then this one is dead and its
    /// files complete (the runtime flushed its last partial record when it exited), so
    /// its dangling partial line is flushed after `rotate_wait` rather than `finish_wait`
    /// (an agent restarted often must still get to flush it before the kubelet's GC
    /// deletes the files).
    newer: bool,
    kind: Kind,
    /// The pod's Kubernetes metadata was not known when the chain opened: its labels are
    /// completed at a later scan, once the pod watch knows the pod.
    kube_pending: bool,
}

impl Tracked {
    /// Where reading again reproduces every line not handed to a batch yet.
    fn mark(&self) -> Option<Mark> {
        match &self.process {
            None => self.chain.mark(),
            Some(p) => process::earliest(self.chain.resume(), p.held()),
        }
    }
}

/// What the reader had to give up, and how often its event queue overflowed: the
/// counters behind the WARN logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Losses {
    /// Held files let go of unread because of `max_held_files` / `max_held_bytes`.
    pub(crate) shed_files: u64,
    /// Their unread bytes (uncompressed).
    pub(crate) shed_bytes: u64,
    /// Their unread lines (records).
    pub(crate) shed_lines: u64,
    /// Event-queue overflows (each followed by a full rescan).
    pub(crate) overflows: u64,
    /// Rotated files queued by a rescan because the chain had never opened them.
    pub(crate) adopted: u64,
}

pub(crate) struct Reader<'a> {
    config: &'a AgentConfig,
    processing: Processing,
    /// Checkpoints read at startup, used when a chain is first opened.
    resume: Checkpoints,
    chains: BTreeMap<String, Tracked>,
    /// Chains finished; not reopened while their files exist.
    done: HashSet<String>,
    batch: Vec<StreamEntries>,
    index: HashMap<(String, usize), usize>,
    batch_bytes: usize,
    batch_since: Option<Instant>,
    last_send: Instant,
    /// A batch the full queue did not take yet. While there is one, nothing is read, but
    /// discovery goes on and every chain opens the files its live path names, so files
    /// the kubelet rotates and deletes meanwhile stay readable through their descriptors.
    pending: Option<Batch>,
    stats: std::sync::Arc<Stats>,
    /// inotify, when available.
    watcher: Option<Watcher>,
    /// Chains worth polling now: an event named one of their files, or they read
    /// something at their last poll.
    dirty: HashSet<String>,
    /// A full rescan is wanted (a directory came or went).
    scan_soon: bool,
    last_scan: Option<Instant>,
    pub(crate) losses: Losses,
    /// Pod labels and owners from the Kubernetes API, when watched.
    pods: Option<Arc<PodCache>>,
}

/// The container logs under the pods directory: live path (relative) → rotated files.
type Listing = BTreeMap<String, (PathBuf, Vec<PathBuf>)>;

impl<'a> Reader<'a> {
    pub(crate) fn new(
        config: &'a AgentConfig,
        resume: Checkpoints,
        stats: std::sync::Arc<Stats>,
        processing: Processing,
    ) -> Self {
        Self {
            config,
            processing,
            resume,
            chains: BTreeMap::new(),
            done: HashSet::new(),
            batch: Vec::new(),
            index: HashMap::new(),
            batch_bytes: 0,
            batch_since: None,
            last_send: Instant::now(),
            pending: None,
            stats,
            watcher: None,
            dirty: HashSet::new(),
            scan_soon: false,
            last_scan: None,
            losses: Losses::default(),
            pods: None,
        }
    }

    /// Adds the pods' Kubernetes metadata to their streams' labels.
    pub(crate) fn with_pods(mut self, pods: Option<Arc<PodCache>>) -> Self {
        self.pods = pods;
        self
    }

    pub(crate) fn run(
        mut self,
        stop: &AtomicBool,
        tx: &SyncSender<Batch>,
    ) -> Result<(), AgentError> {
        if self.config.inotify {
            match Watcher::new(self.config.event_queue, &self.config.state_dir) {
                Ok(w) => self.watcher = Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "inotify unavailable; discovering and reading by polling");
                }
            }
        }
        let mut next_scan = Instant::now();
        let mut next_full_poll = Instant::now();
        let mut next_bound = Instant::now();
        let mut events = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            self.handle_events(std::mem::take(&mut events), now);
            let (overflowed, alive) = match &self.watcher {
                Some(w) => (w.overflowed(), w.alive()),
                None => (false, true),
            };
            if overflowed {
                self.losses.overflows += 1;
                tracing::warn!(
                    overflows = self.losses.overflows,
                    "inotify events lost (queue overflow); rescanning everything"
                );
                self.scan(now);
                next_scan = now + self.scan_interval();
                next_full_poll = now;
            }
            if !alive {
                tracing::warn!("inotify stopped; discovering and reading by polling");
                self.watcher = None;
            }
            let soon = self.scan_soon
                && self
                    .last_scan
                    .is_none_or(|t| now.saturating_duration_since(t) >= MIN_RESCAN);
            if now >= next_scan || soon {
                self.scan(now);
                next_scan = now + self.scan_interval();
            }
            if now >= next_bound {
                next_bound = now + self.config.idle_poll_interval;
                self.enforce_held_bound();
            }
            let full = self.watcher.is_none() || now >= next_full_poll;
            if full {
                next_full_poll = now + self.config.idle_poll_interval;
            }
            if let Some(batch) = self.pending.take() {
                match tx.try_send(batch) {
                    Ok(()) => {}
                    Err(TrySendError::Full(batch)) => {
                        // The server is slow or down: hold on to every file, read nothing.
                        // New generations are opened on their inotify event (and here).
                        self.pending = Some(batch);
                        if full {
                            for t in self.chains.values_mut() {
                                t.chain.refresh(now);
                            }
                        }
                        events = self.wait(self.config.poll_interval);
                        continue;
                    }
                    Err(TrySendError::Disconnected(_)) => return Ok(()),
                }
            }
            let mut progress = false;
            let keys: Vec<String> = if full {
                self.chains.keys().cloned().collect()
            } else {
                let mut keys: Vec<String> = self
                    .chains
                    .iter()
                    .filter(|(k, t)| self.dirty.contains(*k) || t.over || t.chain.rotating())
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.sort();
                keys
            };
            for key in keys {
                let moved = self.poll_chain(&key, now);
                if moved {
                    self.dirty.insert(key);
                } else {
                    self.dirty.remove(&key);
                }
                progress |= moved;
                if self.batch_bytes >= self.config.batch_bytes {
                    if !self.send(tx, false) {
                        return Ok(());
                    }
                    if self.pending.is_some() {
                        break;
                    }
                }
            }
            let waited = self
                .batch_since
                .is_some_and(|t| now - t >= self.config.batch_wait)
                || now - self.last_send >= self.config.batch_wait;
            if waited && self.pending.is_none() && !self.send(tx, false) {
                return Ok(());
            }
            // Busy or not, the events are taken every round: a new generation must be
            // opened on its create event even while other chains have a backlog.
            events = if progress {
                self.wait(Duration::ZERO)
            } else {
                let timeout = self.idle_timeout(now, next_scan, next_full_poll);
                self.wait(timeout)
            };
        }
        if let Some(batch) = self.pending.take() {
            if tx.send(batch).is_err() {
                return Ok(());
            }
        }
        self.send(tx, true);
        Ok(())
    }

    /// The rescan interval: as configured under inotify, at most 500 ms without it.
    fn scan_interval(&self) -> Duration {
        match self.watcher {
            Some(_) => self.config.scan_interval,
            None => self.config.scan_interval.min(Duration::from_millis(500)),
        }
    }

    /// How long to wait for an event when nothing was read: until the next timer, or a
    /// poll interval while a chain is in rotation (its old file is let go on a timer) or
    /// without inotify.
    fn idle_timeout(&self, now: Instant, next_scan: Instant, next_full_poll: Instant) -> Duration {
        let rotating = self.chains.values().any(|t| t.over || t.chain.rotating());
        if self.watcher.is_none() || rotating || self.pending.is_some() {
            return self.config.poll_interval;
        }
        let mut until = next_scan
            .min(next_full_poll)
            .min(self.last_send + self.config.batch_wait);
        if let Some(t) = self.batch_since {
            until = until.min(t + self.config.batch_wait);
        }
        until
            .saturating_duration_since(now)
            .max(Duration::from_millis(1))
    }

    /// Waits up to `timeout` for events (sleeps without inotify).
    fn wait(&mut self, timeout: Duration) -> Vec<Event> {
        match &mut self.watcher {
            Some(w) => w.wait(timeout, EVENTS_PER_WAKE),
            None => {
                std::thread::sleep(timeout);
                Vec::new()
            }
        }
    }

    /// Acts on inotify events: a new file generation is opened at once, a written file's
    /// chain is polled, a new directory is watched and listed, a vanished one leads to a
    /// rescan.
    fn handle_events(&mut self, events: Vec<Event>, now: Instant) {
        let gone = EventMask::DELETE | EventMask::MOVED_FROM;
        let came = EventMask::CREATE | EventMask::MOVED_TO;
        let mut containers: Vec<PathBuf> = Vec::new();
        for e in events {
            let Some(name) = e.name.as_deref() else {
                // The watched directory itself moved or went.
                if e.mask
                    .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED)
                {
                    self.scan_soon = true;
                }
                continue;
            };
            let path = e.dir.join(name);
            match e.level {
                Level::Ancestor => {
                    // Only a step toward a directory the agent reads counts.
                    let toward = |d: &Path| d.starts_with(&path);
                    let wanted = (self.config.read_pods && toward(&self.config.pods_dir))
                        || self.config.files.iter().any(|f| toward(f.glob.dir()));
                    if e.mask.intersects(came) && wanted {
                        self.scan_soon = true;
                    }
                }
                Level::Pods | Level::Pod => {
                    if e.mask.intersects(came) && e.mask.contains(EventMask::ISDIR) {
                        if e.level == Level::Pods {
                            self.scan_pod(&path, now);
                        } else {
                            containers.push(path);
                        }
                    } else if e.mask.intersects(gone) {
                        self.scan_soon = true;
                    }
                }
                Level::Container => {
                    let key = path
                        .strip_prefix(&self.config.pods_dir)
                        .ok()
                        .and_then(|r| r.to_str())
                        .and_then(|r| PodLogPath::parse(r).ok().map(|p| (p, r)));
                    let Some((parsed, _)) = key else {
                        continue;
                    };
                    let live = format!(
                        "{}_{}_{}/{}/{}.log",
                        parsed.namespace, parsed.pod, parsed.uid, parsed.container, parsed.restart
                    );
                    let known = self.chains.contains_key(&live);
                    if e.mask.contains(EventMask::MODIFY) && known {
                        self.dirty.insert(live);
                    } else if matches!(parsed.rotation, Rotation::Live)
                        && e.mask.intersects(came)
                        && known
                    {
                        // A new generation: open it now, before it can be rotated away.
                        if let Some(t) = self.chains.get_mut(&live) {
                            t.chain.refresh(now);
                        }
                        self.dirty.insert(live);
                    } else if e.mask.intersects(came | gone) || !known {
                        containers.push(e.dir.clone());
                    }
                }
                Level::Files => {
                    let Some(name) = name.to_str() else {
                        continue;
                    };
                    let matched = self
                        .config
                        .files
                        .iter()
                        .any(|s| s.glob.dir() == e.dir && s.glob.matches(name));
                    if !matched {
                        continue;
                    }
                    let key = path.to_string_lossy().into_owned();
                    match self.chains.get_mut(&key) {
                        Some(t) if e.mask.intersects(came) => {
                            t.chain.refresh(now);
                            self.dirty.insert(key);
                        }
                        Some(_) if e.mask.contains(EventMask::MODIFY) => {
                            self.dirty.insert(key);
                        }
                        _ => self.scan_soon = true,
                    }
                }
            }
        }
        containers.sort();
        containers.dedup();
        for dir in containers {
            self.scan_container(&dir, now);
        }
    }

    fn poll_chain(&mut self, key: &str, now: Instant) -> bool {
        let Some(t) = self.chains.get_mut(key) else {
            return false;
        };
        let finish_wait = if t.newer {
            self.config.finish_wait.min(self.config.rotate_wait)
        } else {
            self.config.finish_wait
        };
        let (batch, index, bytes, since) = (
            &mut self.batch,
            &mut self.index,
            &mut self.batch_bytes,
            &mut self.batch_since,
        );
        // The batch's stream of each of this chain's streams, looked up once per poll.
        let mut slots: [Option<usize>; 2] = [None, None];
        let (file_source, read_at) = (t.kind == Kind::File, Timestamp::now());
        let mut emit = |k: usize, timestamp, line: Bytes| {
            // A file source's line with a klog header (the control plane's files) takes
            // its time and severity from it.
            let klog = file_source
                .then(|| crate::klog::parse(&line, read_at))
                .flatten();
            let timestamp = klog.map_or(timestamp, |h| h.time);
            let i = *slots[k].get_or_insert_with(|| {
                *index.entry((key.to_owned(), k)).or_insert_with(|| {
                    batch.push(StreamEntries {
                        labels: t.labels[k].clone(),
                        entries: Vec::new(),
                    });
                    batch.len() - 1
                })
            });
            *bytes += line.len() + 64;
            since.get_or_insert(now);
            let mut metadata = t.metadata.clone();
            if let Some(h) = klog {
                metadata.push(LabelPair {
                    name: "level".into(),
                    value: h.severity.as_str().into(),
                });
            }
            batch[i].entries.push(Entry {
                timestamp,
                line,
                metadata,
            });
        };
        let chain = &mut t.chain;
        let progress = match t.process.as_deref_mut() {
            // No multi-line rule, no policy: each line goes to the batch as it is.
            None => chain.poll(now, &mut |o: Out<'_>| {
                let k = stream_index(o.line.stream);
                emit(k, o.line.timestamp, Bytes::copy_from_slice(o.line.content));
            }),
            Some(p) => {
                let progress = chain.poll(now, &mut |o: Out<'_>| p.push(o, now, &mut emit));
                p.expire(now, chain.waiting(), &mut emit);
                progress
            }
        };
        let quiet = chain.idle_for(now).is_some_and(|d| d >= finish_wait);
        if t.over && quiet {
            match t.process.as_deref_mut() {
                None => chain.finish(&mut |o: Out<'_>| {
                    let k = stream_index(o.line.stream);
                    emit(k, o.line.timestamp, Bytes::copy_from_slice(o.line.content));
                }),
                Some(p) => {
                    chain.finish(&mut |o: Out<'_>| p.push(o, now, &mut emit));
                    p.finish(&mut emit);
                }
            }
            self.done.insert(key.to_owned());
            // Its last mark goes out with the next batch; see `marks`.
            return true;
        }
        progress
    }

    /// Sends the batch with every moved mark; false once the sender is gone. Unless
    /// `block`, a full queue leaves the batch in `pending` (there must be none yet).
    fn send(&mut self, tx: &SyncSender<Batch>, block: bool) -> bool {
        let mut marks = Vec::new();
        let mut finished = Vec::new();
        for (key, t) in &mut self.chains {
            if let Some(mark) = t.mark() {
                if t.chain.sent.as_ref() != Some(&mark) {
                    t.chain.sent = Some(mark.clone());
                    marks.push((key.clone(), mark));
                }
            }
            if self.done.contains(key) {
                finished.push(key.clone());
            }
        }
        for key in finished {
            if let Some(t) = self.chains.remove(&key) {
                self.stats
                    .bad_records_done
                    .fetch_add(t.chain.bad_records, Ordering::Relaxed);
            }
            self.dirty.remove(&key);
        }
        self.last_send = Instant::now();
        if self.batch.is_empty() && marks.is_empty() {
            return true;
        }
        let batch = Batch {
            streams: std::mem::take(&mut self.batch),
            marks,
            journal: None,
        };
        self.stats.read(&batch.streams);
        self.index.clear();
        self.batch_bytes = 0;
        self.batch_since = None;
        if block {
            return tx.send(batch).is_ok();
        }
        match tx.try_send(batch) {
            Ok(()) => true,
            Err(TrySendError::Full(batch)) => {
                self.pending = Some(batch);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Lists everything: watches every directory, opens chains for new container logs
    /// and files, queues rotated files chains missed, marks instances that are over,
    /// forgets finished chains whose files are gone.
    fn scan(&mut self, now: Instant) {
        let open = self
            .chains
            .values()
            .map(|t| t.chain.open_files())
            .sum::<usize>();
        self.stats.open_files.store(open as u64, Ordering::Relaxed);
        let bad = self.chains.values().map(|t| t.chain.bad_records).sum();
        self.stats.bad_records_live.store(bad, Ordering::Relaxed);
        self.last_scan = Some(now);
        self.scan_soon = false;
        if self.config.read_pods {
            let pods_dir = self.config.pods_dir.clone();
            self.watch_or_ancestor(&pods_dir, Level::Pods);
            let mut seen = HashSet::new();
            for pod in subdirs(&pods_dir) {
                seen.extend(self.scan_pod(&pod, now));
            }
            for (key, t) in &mut self.chains {
                if t.kind == Kind::Pod && !seen.contains(key) {
                    t.over = true;
                }
            }
            self.done.retain(|k| k.starts_with('/') || seen.contains(k));
        }
        self.scan_files(now);
        // Checkpoints are loaded and the first scan ran: /ready.
        self.stats.ready.store(true, Ordering::Relaxed);
        self.stats
            .shed_files
            .store(self.losses.shed_files, Ordering::Relaxed);
        self.stats
            .shed_bytes
            .store(self.losses.shed_bytes, Ordering::Relaxed);
        self.stats
            .shed_lines
            .store(self.losses.shed_lines, Ordering::Relaxed);
        self.stats
            .inotify_overflows
            .store(self.losses.overflows, Ordering::Relaxed);
    }

    /// Watches `dir` as `level`; when it does not exist (yet), watches its nearest
    /// existing ancestor instead, so its creation triggers a rescan at once rather than
    /// at the next periodic one.
    fn watch_or_ancestor(&mut self, dir: &Path, level: Level) {
        let Some(w) = &mut self.watcher else {
            return;
        };
        if w.watch(dir, level) {
            return;
        }
        let mut up = dir.parent();
        while let Some(a) = up {
            if a.is_dir() {
                w.watch(a, Level::Ancestor);
                // Created between the failed watch and now: look again soon.
                if dir.is_dir() {
                    self.scan_soon = true;
                }
                return;
            }
            up = a.parent();
        }
    }

    /// Watches and lists one pod directory; the container logs seen.
    fn scan_pod(&mut self, pod: &Path, now: Instant) -> Vec<String> {
        if let Some(w) = &mut self.watcher {
            w.watch(pod, Level::Pod);
        }
        let mut seen = Vec::new();
        for container in subdirs(pod) {
            seen.extend(self.scan_container(&container, now));
        }
        seen
    }

    /// Watches and lists one container directory: opens chains for new instances, marks
    /// the instances that are over, queues rotated files a chain never opened. Returns
    /// the container logs seen.
    fn scan_container(&mut self, dir: &Path, now: Instant) -> Vec<String> {
        if let Some(w) = &mut self.watcher {
            w.watch(dir, Level::Container);
        }
        let listing = list_container(&self.config.pods_dir, dir);
        let newest = listing
            .values()
            .filter_map(|(live, _)| restart_of(live).map(|(_, n)| n))
            .max();
        let Some(prefix) = dir
            .strip_prefix(&self.config.pods_dir)
            .ok()
            .and_then(|r| r.to_str())
            .map(|r| format!("{r}/"))
        else {
            return Vec::new();
        };
        let (config, pods) = (self.config, self.pods.clone());
        for (key, t) in self
            .chains
            .range_mut(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            if t.kind != Kind::Pod {
                continue;
            }
            if t.kube_pending {
                // The pod watch learnt of the pod: its lines get the labels from now on
                // (lines already in the batch being cut keep the ones they had).
                if let Some((labels, _, true)) = pod_labels(&config.node, pods.as_deref(), key) {
                    t.labels = labels;
                    t.kube_pending = false;
                }
            }
            let newer =
                restart_of(t.chain.live()).is_some_and(|(_, n)| newest.is_some_and(|m| m > n));
            t.over = newer || !listing.contains_key(key);
            t.newer = newer;
            if let Some((_, rotated)) = listing.get(key) {
                let adopted = t.chain.adopt_rotated(rotated, now);
                if adopted > 0 {
                    self.losses.adopted += adopted as u64;
                    self.dirty.insert(key.clone());
                }
            }
        }
        let seen: Vec<String> = listing.keys().cloned().collect();
        self.done
            .retain(|k| !k.starts_with(&prefix) || listing.contains_key(k));
        for (key, (live, rotated)) in listing {
            if self.chains.contains_key(&key) || self.done.contains(&key) {
                continue;
            }
            let Some((labels, metadata, known)) =
                pod_labels(&self.config.node, self.pods.as_deref(), &key)
            else {
                continue;
            };
            let process = match self.setup_of(&key) {
                Setup::Excluded => continue,
                Setup::Plain => None,
                Setup::Processed(p) => Some(p),
            };
            let timing = ChainTiming {
                rotate_wait: self.config.rotate_wait,
            };
            let chain = Chain::open(live, &rotated, self.resume.files.get(&key), timing, now);
            let over = restart_of(chain.live()).is_some_and(|(_, n)| newest.is_some_and(|m| m > n));
            self.dirty.insert(key.clone());
            self.chains.insert(
                key,
                Tracked {
                    chain,
                    labels,
                    metadata,
                    over,
                    process,
                    newer: over,
                    kind: Kind::Pod,
                    kube_pending: self.pods.is_some() && !known,
                },
            );
        }
        seen
    }

    /// Lists the directories of the file sources: opens chains for new matching files
    /// (resuming from a checkpoint, also in a file logrotate renamed meanwhile), marks
    /// chains whose file is gone as over.
    fn scan_files(&mut self, now: Instant) {
        if self.config.files.is_empty() {
            return;
        }
        let mut seen = HashSet::new();
        let dirs: Vec<PathBuf> = self
            .config
            .files
            .iter()
            .map(|s| s.glob.dir().to_owned())
            .collect();
        for dir in dirs {
            self.watch_or_ancestor(&dir, Level::Files);
        }
        for source in &self.config.files {
            for path in source.glob.list() {
                let key = path.to_string_lossy().into_owned();
                if !seen.insert(key.clone())
                    || self.chains.contains_key(&key)
                    || self.done.contains(&key)
                {
                    continue;
                }
                let Some(labels) = file_labels(source, &key, &self.config.node) else {
                    continue;
                };
                let resume = self.resume.files.get(&key);
                let rotated: Vec<PathBuf> = resume
                    .and_then(|m| find_checkpointed(&rotated_siblings(&path), m))
                    .into_iter()
                    .collect();
                let timing = ChainTiming {
                    rotate_wait: self.config.rotate_wait,
                };
                let chain = Chain::open_as(Format::Plain, path, &rotated, resume, timing, now);
                self.dirty.insert(key.clone());
                self.chains.insert(
                    key,
                    Tracked {
                        chain,
                        labels: [labels.clone(), labels],
                        metadata: Vec::new(),
                        over: false,
                        // Multi-line and policy rules select pod logs only.
                        process: None,
                        newer: false,
                        kind: Kind::File,
                        kube_pending: false,
                    },
                );
            }
        }
        for (key, t) in &mut self.chains {
            if t.kind == Kind::File {
                t.over = !seen.contains(key);
            }
        }
        self.done
            .retain(|k| !k.starts_with('/') || seen.contains(k));
    }

    /// Over `max_held_files` or `max_held_bytes`: lets go of the oldest held files
    /// unread, counting and logging what is lost.
    fn enforce_held_bound(&mut self) {
        let mut held: Vec<(u64, u64, String)> = Vec::new();
        for (key, t) in &self.chains {
            for h in t.chain.held() {
                held.push((h.seq, h.bytes, key.clone()));
            }
        }
        let (mut files, mut bytes) = (held.len(), held.iter().map(|h| h.1).sum::<u64>());
        let (max_files, max_bytes) = (self.config.max_held_files, self.config.max_held_bytes);
        if files <= max_files && bytes <= max_bytes {
            return;
        }
        held.sort();
        for (_, size, key) in held {
            if files <= max_files && bytes <= max_bytes {
                break;
            }
            let Some(t) = self.chains.get_mut(&key) else {
                continue;
            };
            let Some(shed) = t.chain.shed_front() else {
                continue;
            };
            files -= 1;
            bytes = bytes.saturating_sub(size);
            self.losses.shed_files += 1;
            self.losses.shed_bytes += shed.bytes;
            self.losses.shed_lines += shed.lines;
            self.dirty.insert(key);
            if shed.bytes == 0 {
                tracing::debug!(file = %shed.name.display(), "held file let go of, read to its end");
                continue;
            }
            tracing::warn!(
                file = %shed.name.display(),
                bytes = shed.bytes,
                lines = shed.lines,
                max_held_files = max_files,
                max_held_bytes = max_bytes,
                total_shed_files = self.losses.shed_files,
                total_shed_lines = self.losses.shed_lines,
                "too many rotated or deleted files held open: let go of the oldest unread; its lines are lost"
            );
        }
    }

    /// What the policy and the multi-line rules make of a container log.
    fn setup_of(&self, key: &str) -> Setup {
        match PodLogPath::parse(key) {
            Ok(p) => self.processing.setup(Target {
                namespace: p.namespace,
                pod: p.pod,
                container: p.container,
            }),
            Err(_) => Setup::Excluded,
        }
    }
}

/// Stream labels and structured metadata of a container log (its path's, plus its pod's
/// Kubernetes metadata when the pod watch knows the pod), and whether it did.
fn pod_labels(
    node: &str,
    pods: Option<&PodCache>,
    key: &str,
) -> Option<([Labels; 2], Vec<LabelPair>, bool)> {
    let p = PodLogPath::parse(key).ok()?;
    let base = [
        ("container", p.container),
        ("namespace", p.namespace),
        ("node", node),
        ("pod", p.pod),
    ];
    let meta = pods.and_then(|c| c.get(p.uid));
    // Pod labels never replace the agent's own.
    let extra: Vec<(String, String)> = meta
        .as_deref()
        .map(|m| m.stream_labels())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "container" | "namespace" | "node" | "pod" | "stream"
            )
        })
        .collect();
    let with = |stream: &str| {
        let own = base.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let stream = [("stream".to_owned(), stream.to_owned())];
        let all = own
            .clone()
            .chain(extra.iter().cloned())
            .chain(stream.clone());
        // Pod labels that make no valid label set are left out rather than the lines.
        Labels::from_pairs(all)
            .or_else(|_| Labels::from_pairs(own.chain(stream)))
            .ok()
    };
    let metadata = vec![
        LabelPair {
            name: "pod_uid".into(),
            value: p.uid.to_owned(),
        },
        LabelPair {
            name: "restart".into(),
            value: p.restart.to_string(),
        },
    ];
    Some(([with("stdout")?, with("stderr")?], metadata, meta.is_some()))
}

fn stream_index(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// `(container directory, restart)` of a live path.
fn restart_of(live: &Path) -> Option<(PathBuf, u32)> {
    let n = live.file_stem()?.to_str()?.parse().ok()?;
    Some((live.parent()?.to_owned(), n))
}

/// The subdirectories of `dir`.
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// The container logs of one container directory, grouped by live path.
fn list_container(pods_dir: &Path, dir: &Path) -> Listing {
    let mut out = Listing::new();
    let Ok(files) = std::fs::read_dir(dir) else {
        return out;
    };
    for file in files.flatten() {
        let path = file.path();
        let Some(rel) = path.strip_prefix(pods_dir).ok().and_then(|r| r.to_str()) else {
            continue;
        };
        let Ok(parsed) = PodLogPath::parse(rel) else {
            continue;
        };
        let live_rel = format!(
            "{}_{}_{}/{}/{}.log",
            parsed.namespace, parsed.pod, parsed.uid, parsed.container, parsed.restart
        );
        let live = pods_dir.join(&live_rel);
        let entry = out.entry(live_rel).or_insert_with(|| (live, Vec::new()));
        if !matches!(parsed.rotation, Rotation::Live) {
            entry.1.push(path);
        }
    }
    out
}

/// The labels of a file source's lines: its own, `filename` and `node`.
fn file_labels(source: &crate::FileSource, filename: &str, node: &str) -> Option<Labels> {
    let pairs = source
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("filename", filename), ("node", node)]);
    Labels::from_pairs(pairs).ok()
}
