//! The reader thread: discovery by rescan, polling every chain, labelling, batching.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Instant;

use bytes::Bytes;
use kelp_k8s::path::{PodLogPath, Rotation};
use kelp_k8s::Stream;
use kelp_model::{Entry, LabelPair, Labels, StreamEntries};

use crate::chain::{Chain, ChainTiming, Out};
use crate::checkpoint::{Checkpoints, Mark};
use crate::policy::Target;
use crate::process::{self, Processing, Processor, Setup};
use crate::stats::Stats;
use crate::{AgentConfig, AgentError, Batch};

/// A chain and what labels its lines.
struct Tracked {
    chain: Chain,
    labels: [Labels; 2],
    metadata: Vec<LabelPair>,
    /// Whether a newer instance of the container exists, or the pod is gone.
    over: bool,
    /// Multi-line joining and policy, when configured for this container log.
    process: Option<Box<Processor>>,
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
        }
    }

    pub(crate) fn run(
        mut self,
        stop: &AtomicBool,
        tx: &SyncSender<Batch>,
    ) -> Result<(), AgentError> {
        let mut next_scan = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= next_scan {
                self.scan(now);
                self.stats.ready.store(true, Ordering::Relaxed);
                next_scan = now + self.config.scan_interval;
            }
            if let Some(batch) = self.pending.take() {
                match tx.try_send(batch) {
                    Ok(()) => {}
                    Err(TrySendError::Full(batch)) => {
                        // The server is slow or down: hold on to every file, read nothing.
                        self.pending = Some(batch);
                        for t in self.chains.values_mut() {
                            t.chain.refresh(now);
                        }
                        std::thread::sleep(self.config.poll_interval);
                        continue;
                    }
                    Err(TrySendError::Disconnected(_)) => return Ok(()),
                }
            }
            let mut progress = false;
            let keys: Vec<String> = self.chains.keys().cloned().collect();
            for key in keys {
                progress |= self.poll_chain(&key, now);
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
            if !progress {
                std::thread::sleep(self.config.poll_interval);
            }
        }
        if let Some(batch) = self.pending.take() {
            if tx.send(batch).is_err() {
                return Ok(());
            }
        }
        self.send(tx, true);
        Ok(())
    }

    fn poll_chain(&mut self, key: &str, now: Instant) -> bool {
        let Some(t) = self.chains.get_mut(key) else {
            return false;
        };
        let (batch, index, bytes, since) = (
            &mut self.batch,
            &mut self.index,
            &mut self.batch_bytes,
            &mut self.batch_since,
        );
        // The batch's stream of each of this chain's streams, looked up once per poll.
        let mut slots: [Option<usize>; 2] = [None, None];
        let mut emit = |k: usize, timestamp, line: Bytes| {
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
            batch[i].entries.push(Entry {
                timestamp,
                line,
                metadata: t.metadata.clone(),
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
        let quiet = chain
            .idle_for(now)
            .is_some_and(|d| d >= self.config.finish_wait);
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
        }
        self.last_send = Instant::now();
        if self.batch.is_empty() && marks.is_empty() {
            return true;
        }
        let batch = Batch {
            streams: std::mem::take(&mut self.batch),
            marks,
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

    /// Lists the pods directory; opens chains for new container logs, marks instances
    /// that are over, forgets finished chains whose files are gone.
    fn scan(&mut self, now: Instant) {
        let open = self
            .chains
            .values()
            .map(|t| t.chain.open_files())
            .sum::<usize>();
        self.stats.open_files.store(open as u64, Ordering::Relaxed);
        let bad = self.chains.values().map(|t| t.chain.bad_records).sum();
        self.stats.bad_records_live.store(bad, Ordering::Relaxed);
        let listing = list(&self.config.pods_dir);
        // The newest restart per container directory.
        let mut newest: HashMap<PathBuf, u32> = HashMap::new();
        for (live, _) in listing.values() {
            if let Some((dir, n)) = restart_of(live) {
                let e = newest.entry(dir).or_insert(n);
                *e = (*e).max(n);
            }
        }
        self.done.retain(|k| listing.contains_key(k));
        for (key, t) in &mut self.chains {
            let newer = restart_of(t.chain.live())
                .is_some_and(|(dir, n)| newest.get(&dir).is_some_and(|&m| m > n));
            t.over = newer || !listing.contains_key(key);
        }
        for (key, (live, rotated)) in listing {
            if self.chains.contains_key(&key) || self.done.contains(&key) {
                continue;
            }
            let Some((labels, metadata)) = self.labels_of(&key) else {
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
            let over = restart_of(chain.live())
                .is_some_and(|(dir, n)| newest.get(&dir).is_some_and(|&m| m > n));
            self.chains.insert(
                key,
                Tracked {
                    chain,
                    labels,
                    metadata,
                    over,
                    process,
                },
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

    fn labels_of(&self, key: &str) -> Option<([Labels; 2], Vec<LabelPair>)> {
        let p = PodLogPath::parse(key).ok()?;
        let base = [
            ("container", p.container),
            ("namespace", p.namespace),
            ("node", self.config.node.as_str()),
            ("pod", p.pod),
        ];
        let with = |stream: &str| {
            Labels::from_pairs(base.iter().copied().chain([("stream", stream)])).ok()
        };
        let restart = p.restart.to_string();
        let metadata = vec![
            LabelPair {
                name: "pod_uid".into(),
                value: p.uid.to_owned(),
            },
            LabelPair {
                name: "restart".into(),
                value: restart,
            },
        ];
        Some(([with("stdout")?, with("stderr")?], metadata))
    }
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

/// Every container log under `pods_dir`, grouped by live path.
fn list(pods_dir: &Path) -> Listing {
    let mut out = Listing::new();
    let Ok(pods) = std::fs::read_dir(pods_dir) else {
        return out;
    };
    for pod in pods.flatten() {
        let Ok(containers) = std::fs::read_dir(pod.path()) else {
            continue;
        };
        for container in containers.flatten() {
            let Ok(files) = std::fs::read_dir(container.path()) else {
                continue;
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
        }
    }
    out
}
