//! One container log and its rotations: a queue of open descriptors read in order,
//! decoded (CRI, or docker json-file when a file starts with `{`) and joined, with the
//! resume point a checkpoint needs.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kelp_k8s::cri::CriRecord;
use kelp_k8s::join::{Joiner, JoinerConfig, LogicalLine};
use kelp_k8s::{cri, docker, Stream};
use kelp_tail::change::{FileId, PathStat};

use crate::checkpoint::Mark;
use file::{read_full_at, read_head, Reader, Source};

/// Bytes read per call.
const CHUNK: usize = 64 * 1024;
/// Reads per poll of one chain, so one busy container cannot starve the others.
const READS_PER_POLL: usize = 16;
/// Records longer than this without a `\n` are cut (containerd writes at most 16 KiB of
/// content per record, so this never happens on a healthy node).
const MAX_RECORD: usize = 1 << 20;
/// Heads of the files a chain let go of, remembered so the rescan does not queue them
/// again (the kubelet keeps at most `containerLogMaxFiles` files, 5 by default).
const HISTORY: usize = 64;

/// What a chain hands out: one logical line (or piece).
pub(crate) struct Out<'a> {
    pub(crate) line: LogicalLine<'a>,
    /// Where the line's first record begins.
    pub(crate) start: LineStart<'a>,
}

/// Where a line's first record begins: reading again from there reproduces the line. Cheap
/// to hand out; [`LineStart::to_mark`] builds the owned [`Mark`] only when one is kept.
#[derive(Clone, Copy)]
pub(crate) struct LineStart<'a> {
    /// The record's sequence number in the chain: lower began earlier.
    pub(crate) seq: u64,
    at: At<'a>,
}

#[derive(Clone, Copy)]
enum At<'a> {
    Offset(&'a Source, u64),
    Mark(&'a Mark),
}

impl LineStart<'_> {
    /// The resume point of this line.
    pub(crate) fn to_mark(self) -> Mark {
        match self.at {
            At::Offset(source, offset) => source.mark(offset),
            At::Mark(m) => m.clone(),
        }
    }
}

/// How a file's records are encoded, told by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// `<time> <stream> <tag> <content>` (containerd, CRI-O).
    Cri,
    /// `{"log":"…","stream":"…","time":"…"}` (docker's json-file, through cri-dockerd).
    Docker,
}

impl Encoding {
    /// A docker json-file line starts with `{`; a CRI record with a digit.
    fn of(first_byte: Option<u8>) -> Self {
        if first_byte == Some(b'{') {
            Encoding::Docker
        } else {
            Encoding::Cri
        }
    }
}

/// Timing of a chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainTiming {
    /// How long a drained file whose path names a newer file is kept for late writes.
    pub(crate) rotate_wait: Duration,
}

/// One container instance's log: `N.log` and its rotations.
pub(crate) struct Chain {
    live: PathBuf,
    sources: VecDeque<Source>,
    /// Bytes of the front source read but not yet cut into records.
    buf: Vec<u8>,
    joiner: Joiner,
    /// Per stream (stdout, stderr): where the line waiting for its end (a CRI `F`, a
    /// docker `log` ending in `\n`) began, with its record's sequence number.
    waiting: [Option<(u64, Mark)>; 2],
    /// The sequence number of the next record cut.
    seq: u64,
    /// The last mark handed to a batch.
    pub(crate) sent: Option<Mark>,
    /// Records that did not parse.
    pub(crate) bad_records: u64,
    timing: ChainTiming,
    /// How the bytes are cut into lines.
    format: Format,
    /// Heads of files let go of (drained, skipped at a resume, or shed), newest last.
    history: VecDeque<Vec<u8>>,
    /// Rotated files already looked at by [`Chain::adopt_rotated`], with their identity.
    classified: HashMap<PathBuf, FileId>,
}

/// How a chain's bytes become lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// CRI records (`<ts> <stream> <P|F> <content>`), joined across partials.
    Cri,
    /// Plain lines, as an application writes them into a file; stamped when read.
    Plain,
}

/// A file let go of unread because of the bound on held files.
#[derive(Debug)]
pub(crate) struct Shed {
    /// The name it was opened under.
    pub(crate) name: PathBuf,
    /// Bytes not read (uncompressed for a `.gz`).
    pub(crate) bytes: u64,
    /// `\n`-terminated lines (records) among them.
    pub(crate) lines: u64,
}

/// One held file, as the bound on held files sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    /// Opening order: lower is older.
    pub(crate) seq: u64,
    /// Its size on disk.
    pub(crate) bytes: u64,
}

impl Chain {
    /// A chain of `live` whose rotated files are `rotated` (any order). With `resume`, it
    /// starts at that checkpoint when one of the files is the checkpointed one; otherwise
    /// (and when the file is gone) at the oldest file's beginning.
    pub(crate) fn open(
        live: PathBuf,
        rotated: &[PathBuf],
        resume: Option<&Mark>,
        timing: ChainTiming,
        now: Instant,
    ) -> Self {
        Self::open_as(Format::Cri, live, rotated, resume, timing, now)
    }

    /// [`Chain::open`] for a given format.
    pub(crate) fn open_as(
        format: Format,
        live: PathBuf,
        rotated: &[PathBuf],
        resume: Option<&Mark>,
        timing: ChainTiming,
        now: Instant,
    ) -> Self {
        let mut chain = Self {
            live,
            sources: VecDeque::new(),
            buf: Vec::new(),
            joiner: Joiner::new(JoinerConfig {
                max_line_bytes: 256 * 1024,
                partial_timeout: Duration::from_secs(3600),
            }),
            waiting: [None, None],
            seq: 0,
            sent: resume.cloned(),
            bad_records: 0,
            timing,
            format,
            history: VecDeque::new(),
            classified: HashMap::new(),
        };
        for path in ordered(rotated) {
            let opened = Source::open(&path, now).or_else(|e| {
                // Compressed between the listing and the open.
                let mut gz = path.clone().into_os_string();
                gz.push(".gz");
                if e.kind() == io::ErrorKind::NotFound && path.extension().is_none_or(|x| x != "gz")
                {
                    Source::open(Path::new(&gz), now)
                } else {
                    Err(e)
                }
            });
            if let Ok(s) = opened {
                chain.queue(s);
            }
        }
        chain.refresh(now);
        if let Some(mark) = resume {
            if let Some(i) = chain.sources.iter().position(|s| s.matches(mark)) {
                let older: Vec<Source> = chain.sources.drain(..i).collect();
                for s in older {
                    chain.remember(s.head);
                }
                let ok = chain.sources[0].skip_to(mark.offset).is_ok();
                if !ok {
                    tracing::warn!(path = %chain.live.display(), "cannot resume; rereading");
                }
            } else {
                tracing::warn!(path = %chain.live.display(), "checkpointed file gone; reading all files");
            }
        }
        chain
    }

    fn queue(&mut self, s: Source) {
        // The file queued last so far is rotated away from now on: its `rotate_wait`
        // counts from this moment, not from its last byte (which may be long ago for a
        // quiet writer that still holds its descriptor, as under logrotate `create`).
        if let Some(prev) = self.sources.back_mut() {
            prev.last_data = prev.last_data.max(s.last_data);
        }
        self.sources.push_back(s);
    }

    /// Remembers the head of a file let go of, so the rescan does not queue it again.
    fn remember(&mut self, head: Vec<u8>) {
        if head.is_empty() || self.history.contains(&head) {
            return;
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(head);
    }

    /// Whether the file at `path` (a rotated file of this chain) is one the chain holds,
    /// and where in the queue.
    fn held_index(&self, path: &Path) -> Option<usize> {
        let gz = path.extension().is_some_and(|e| e == "gz");
        if !gz {
            let id = FileId::of(&std::fs::metadata(path).ok()?);
            return self.sources.iter().position(|s| !s.is_gz() && s.id == id);
        }
        let head = read_head(path).ok()?;
        self.sources
            .iter()
            .position(|s| !head.is_empty() && s.head == head)
    }

    /// Queues the rotated files (`rotated`, this chain's `N.log.<stamp>[.gz]` on disk now)
    /// that the chain never opened: generations created and rotated away before the chain
    /// saw the live path name them. A file is known when the chain holds it (same inode,
    /// or the same head for a `.gz`) or let go of it (its head is in the history, which
    /// also holds the files before the checkpoint). A new one is queued in rotation order,
    /// never before a front file already being read. Returns how many were queued.
    pub(crate) fn adopt_rotated(&mut self, rotated: &[PathBuf], now: Instant) -> usize {
        let files = ordered(rotated);
        self.classified.retain(|p, _| files.contains(p));
        let mut refreshed = false;
        let mut adopted = 0;
        for (i, path) in files.iter().enumerate() {
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let id = FileId::of(&meta);
            if self.classified.get(path) == Some(&id) {
                continue;
            }
            let gz = path.extension().is_some_and(|e| e == "gz");
            if !gz && self.holds(id) {
                self.classified.insert(path.clone(), id);
                continue;
            }
            if !refreshed {
                refreshed = true;
                for s in &mut self.sources {
                    s.refresh_head();
                }
            }
            let Ok(head) = read_head(path) else {
                continue;
            };
            if head.is_empty() {
                // Nothing in it yet: looked at again next time.
                continue;
            }
            if self.sources.iter().any(|s| s.head == head) || self.history.contains(&head) {
                self.classified.insert(path.clone(), id);
                continue;
            }
            let Ok(source) = Source::open(path, now) else {
                continue;
            };
            let live_index = match PathStat::of(&self.live) {
                Ok(PathStat::File { id, .. }) => {
                    self.sources.iter().position(|s| !s.is_gz() && s.id == id)
                }
                _ => None,
            };
            let mut at = files[i + 1..]
                .iter()
                .find_map(|p| self.held_index(p))
                .or(live_index)
                .unwrap_or(self.sources.len());
            let front_started = self
                .sources
                .front()
                .is_some_and(|f| f.offset > 0 || !self.buf.is_empty());
            if at == 0 && front_started {
                at = 1;
            }
            tracing::info!(file = %path.display(), "queued a rotated file this chain had not opened");
            self.classified.insert(path.clone(), id);
            self.sources.insert(at.min(self.sources.len()), source);
            adopted += 1;
        }
        adopted
    }

    /// The files this chain holds open that are no longer the live one (rotated away,
    /// deleted), and the live one too once it is deleted: what the bound on held files
    /// counts.
    pub(crate) fn held(&self) -> Vec<Held> {
        let last = self.sources.len().saturating_sub(1);
        let mut out = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            let Ok(meta) = s.file().metadata() else {
                continue;
            };
            if i < last || meta.nlink() == 0 {
                out.push(Held {
                    seq: s.seq,
                    bytes: meta.len(),
                });
            }
        }
        out
    }

    /// Lets go of the front file unread (the bound on held files is exceeded), counting
    /// what is lost. The next file, if any, becomes the front; a line waiting for its end
    /// no longer pins the checkpoint to the file let go of.
    pub(crate) fn shed_front(&mut self) -> Option<Shed> {
        let mut front = self.sources.pop_front()?;
        let mut bytes = self.buf.len() as u64;
        let mut lines = count_lines(&self.buf);
        self.buf.clear();
        let mut chunk = vec![0u8; CHUNK];
        loop {
            match front.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    bytes += n as u64;
                    lines += count_lines(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let shed = Shed {
            name: front.name.clone(),
            bytes,
            lines,
        };
        for w in &mut self.waiting {
            if w.as_ref().is_some_and(|(_, m)| front.matches(m)) {
                *w = None;
            }
        }
        self.remember(front.head);
        Some(shed)
    }

    /// Whether a plain file with this identity is queued. Only queued files count: an
    /// inode is reused once its file is deleted and closed, but a queued file is open.
    fn holds(&self, id: FileId) -> bool {
        self.sources.iter().any(|s| !s.is_gz() && s.id == id)
    }

    /// Queues the file the live path names if it is new to the chain.
    pub(crate) fn refresh(&mut self, now: Instant) {
        if let Ok(PathStat::File { id, .. }) = PathStat::of(&self.live) {
            if !self.holds(id) {
                match Source::open(&self.live, now) {
                    Ok(s) if !self.holds(s.id) => self.queue(s),
                    _ => {}
                }
            }
        }
    }

    /// Files held open.
    pub(crate) fn open_files(&self) -> usize {
        self.sources.len()
    }

    /// Whether a newer file is queued behind the front one: the front is let go of on a
    /// timer (`rotate_wait`), so the chain must be polled even without events.
    pub(crate) fn rotating(&self) -> bool {
        self.sources.len() > 1
    }

    /// The live path.
    pub(crate) fn live(&self) -> &Path {
        &self.live
    }

    /// Whether every queued file is read to its end and nothing more is expected from
    /// files other than the last.
    pub(crate) fn idle_for(&self, now: Instant) -> Option<Duration> {
        match self.sources.len() {
            0 => Some(Duration::MAX),
            1 => Some(now.saturating_duration_since(self.sources[0].last_data)),
            _ => None,
        }
    }

    /// Reads what is there and hands out the lines; returns whether it made progress.
    pub(crate) fn poll(&mut self, now: Instant, out: &mut dyn FnMut(Out<'_>)) -> bool {
        self.refresh(now);
        let mut progress = self.detect_truncation(now);
        let mut chunk = vec![0u8; CHUNK];
        for _ in 0..READS_PER_POLL {
            let queued = self.sources.len();
            let Some(front) = self.sources.front_mut() else {
                break;
            };
            let n = match front.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(file = %front.name.display(), error = %e, "read failed; skipping the file");
                    0
                }
            };
            if n > 0 {
                front.last_data = now;
                self.buf.extend_from_slice(&chunk[..n]);
                self.cut_records(out);
                progress = true;
                continue;
            }
            let release = queued > 1
                && (front.is_gz()
                    || now.saturating_duration_since(front.last_data) >= self.timing.rotate_wait);
            if !release {
                break;
            }
            if !self.buf.is_empty() {
                tracing::warn!(file = %front.name.display(), bytes = self.buf.len(), "file ended inside a record; dropped");
                self.buf.clear();
            }
            if let Some(done) = self.sources.pop_front() {
                self.remember(done.head);
            }
            progress = true;
        }
        progress
    }

    /// A live file truncated in place (logrotate's `copytruncate`, conmon's
    /// `log_size_max`): shorter than the read position, or with other first bytes than
    /// when it was read (refilled past the read position before this look). It is read
    /// again from offset 0. Returns whether it was.
    fn detect_truncation(&mut self, now: Instant) -> bool {
        if self.sources.len() != 1 {
            return false;
        }
        let front = &mut self.sources[0];
        let Reader::Plain(f) = &front.reader else {
            return false;
        };
        if front.offset == 0 {
            return false;
        }
        let Ok(meta) = f.metadata() else {
            return false;
        };
        let mut truncated = meta.len() < front.offset;
        if !truncated && !front.head.is_empty() {
            let mut head = vec![0; front.head.len()];
            truncated = read_full_at(f, &mut head)
                .is_ok_and(|n| n == head.len() && head[..] != front.head[..]);
        }
        if !truncated {
            return false;
        }
        tracing::info!(file = %front.name.display(), offset = front.offset, len = meta.len(), "file truncated in place; reading it again from its start");
        front.offset = 0;
        let old = std::mem::take(&mut front.head);
        front.last_data = now;
        self.buf.clear();
        self.waiting = [None, None];
        // logrotate's copy has the old first bytes: known, not a generation to queue.
        self.remember(old);
        true
    }

    fn cut_records(&mut self, out: &mut dyn FnMut(Out<'_>)) {
        if self.format == Format::Plain {
            return self.cut_plain(out);
        }
        let Some(front) = self.sources.front() else {
            return;
        };
        let encoding = Encoding::of(front.head.first().copied());
        let base = front.offset - self.buf.len() as u64;
        let mut start = 0;
        let now = kelp_model::Timestamp::now();
        while let Some(i) = memchr(&self.buf[start..]) {
            let end = start + i;
            let offset = base + start as u64;
            let seq = self.seq;
            self.seq += 1;
            let bytes = &self.buf[start..end];
            let at = Cut { front, offset, seq };
            let parsed = match encoding {
                Encoding::Cri => cri::parse(bytes).map(|record| {
                    join(&mut self.joiner, &mut self.waiting, at, record, now, out);
                }),
                Encoding::Docker => docker::parse(bytes).map(|record| {
                    join(
                        &mut self.joiner,
                        &mut self.waiting,
                        at,
                        record.as_cri(),
                        now,
                        out,
                    );
                }),
            };
            if let Err(e) = parsed {
                self.bad_records += 1;
                tracing::warn!(file = %front.name.display(), offset, error = %e, record = %String::from_utf8_lossy(&bytes[..bytes.len().min(80)]), "bad record skipped");
            }
            start = end + 1;
        }
        if start == 0 && self.buf.len() > MAX_RECORD {
            start = self.buf.len();
            self.bad_records += 1;
        }
        self.buf.drain(..start);
    }

    /// Plain lines: each `\n`-terminated line is one entry, stamped now; a line longer
    /// than [`MAX_RECORD`] is cut there.
    fn cut_plain(&mut self, out: &mut dyn FnMut(Out<'_>)) {
        let Some(front) = self.sources.front() else {
            return;
        };
        let base = front.offset - self.buf.len() as u64;
        let now = kelp_model::Timestamp::now();
        let mut start = 0;
        loop {
            let rest = &self.buf[start..];
            let (end, next) = match memchr(rest) {
                Some(i) => (start + i, start + i + 1),
                None if rest.len() > MAX_RECORD => (start + MAX_RECORD, start + MAX_RECORD),
                None => break,
            };
            let seq = self.seq;
            self.seq += 1;
            out(Out {
                line: LogicalLine {
                    timestamp: now,
                    stream: Stream::Stdout,
                    content: &self.buf[start..end],
                    piece: 0,
                    end: kelp_k8s::join::LineEnd::Full,
                },
                start: LineStart {
                    seq,
                    at: At::Offset(front, base + start as u64),
                },
            });
            start = next;
        }
        self.buf.drain(..start);
    }

    /// Flushes the lines still waiting for their end (the instance is over).
    pub(crate) fn finish(&mut self, out: &mut dyn FnMut(Out<'_>)) {
        let waiting = std::mem::take(&mut self.waiting);
        let front = self.sources.front();
        for line in self.joiner.finish() {
            let start = match (&waiting[stream_index(line.stream)], front) {
                (Some((seq, mark)), _) => LineStart {
                    seq: *seq,
                    at: At::Mark(mark),
                },
                // Cannot happen (a joiner holds a line only while one waits); a start
                // at the current position is then the honest answer.
                (None, Some(f)) => LineStart {
                    seq: self.seq,
                    at: At::Offset(f, f.offset - self.buf.len() as u64),
                },
                (None, None) => continue,
            };
            out(Out { line, start });
        }
    }

    /// Per stream (stdout, stderr): whether a line is waiting for its end.
    pub(crate) fn waiting(&self) -> [bool; 2] {
        [self.waiting[0].is_some(), self.waiting[1].is_some()]
    }

    /// Where reading again would reproduce exactly the lines not handed out yet (plus,
    /// while a line waits for its end, the other stream's lines since it began).
    pub(crate) fn mark(&self) -> Option<Mark> {
        self.resume().map(|(_, m)| m)
    }

    /// [`Self::mark`] with the sequence number of the record it points at, to compare it
    /// with the starts of lines held further down the pipeline (lower began earlier).
    pub(crate) fn resume(&self) -> Option<(u64, Mark)> {
        let waiting = self.waiting.iter().flatten().min_by_key(|(seq, _)| *seq);
        if let Some((seq, mark)) = waiting {
            return Some((*seq, mark.clone()));
        }
        let front = self.sources.front()?;
        Some((self.seq, front.mark(front.offset - self.buf.len() as u64)))
    }
}

/// Where a record was cut: its file, offset and sequence number.
#[derive(Clone, Copy)]
struct Cut<'a> {
    front: &'a Source,
    offset: u64,
    seq: u64,
}

/// Feeds one decoded record to the joiner, keeping the start of each stream's waiting
/// line, and hands out the lines it completes with where they began.
fn join(
    joiner: &mut Joiner,
    waiting: &mut [Option<(u64, Mark)>; 2],
    at: Cut<'_>,
    record: CriRecord<'_>,
    now: kelp_model::Timestamp,
    out: &mut dyn FnMut(Out<'_>),
) {
    let k = stream_index(record.stream);
    let began = if record.partial {
        if waiting[k].is_none() {
            waiting[k] = Some((at.seq, at.front.mark(at.offset)));
        }
        // Lines come out of a partial record only when a very long line is cut; rare.
        waiting[k].clone()
    } else {
        waiting[k].take()
    };
    let start = match &began {
        Some((seq, mark)) => LineStart {
            seq: *seq,
            at: At::Mark(mark),
        },
        None => LineStart {
            seq: at.seq,
            at: At::Offset(at.front, at.offset),
        },
    };
    for line in joiner.push(record, now) {
        out(Out { line, start });
    }
}

fn count_lines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// Of `candidates` (files a plain file source may have been renamed to while the agent
/// was down), the one `mark` names.
pub(crate) fn find_checkpointed(candidates: &[PathBuf], mark: &Mark) -> Option<PathBuf> {
    let now = Instant::now();
    candidates
        .iter()
        .find(|p| Source::open(p, now).is_ok_and(|s| s.matches(mark)))
        .cloned()
}

fn memchr(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b)
}

fn stream_index(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// Rotated files in reading order: by name (the stamp sorts chronologically), a plain
/// file and its `.gz` twin counted once (the plain one: the kubelet writes the `.gz`
/// before it deletes the plain file).
fn ordered(rotated: &[PathBuf]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = rotated.to_vec();
    v.sort();
    let plain: std::collections::HashSet<PathBuf> = v
        .iter()
        .filter(|p| p.extension().is_none_or(|e| e != "gz"))
        .cloned()
        .collect();
    v.retain(|p| p.extension().is_none_or(|e| e != "gz") || !plain.contains(&p.with_extension("")));
    v
}

mod file;
#[cfg(test)]
mod tests;
