//! What one container prints next: lines replayed in order from a corpus file (so stack
//! traces stay whole), the stream each goes to, and now and then a line longer than
//! containerd's 16 KiB record limit.

use kelp_k8s::Stream;

use crate::corpus::{Corpus, Kind};
use crate::rng::Rng;

/// A container's line generator. Deterministic: the same seed-derived [`Rng`] gives the
/// same lines.
#[derive(Debug)]
pub(crate) struct Feed {
    kind: Kind,
    /// Sources this container may replay; it moves to another at the end of one.
    sources: Vec<usize>,
    source: usize,
    pos: usize,
    rng: Rng,
    /// One logical line in `long_every` is a long generated one (0: never).
    long_every: u64,
    /// The stream of the previous line, kept for continuation lines (stack frames).
    stream: Stream,
}

impl Feed {
    /// A feed of `kind` lines from `corpus`, starting at a random place.
    pub(crate) fn new(corpus: &Corpus, kind: Kind, mut rng: Rng, long_every: u64) -> Self {
        let sources = corpus.sources_for(kind);
        let source = sources[rng.index(sources.len())];
        let src = corpus.source(source);
        let mut pos = rng.index(src.len());
        // Start at the beginning of a record, not inside a stack trace.
        for _ in 0..200 {
            if pos + 1 >= src.len() || !is_continuation(src.line(pos)) {
                break;
            }
            pos += 1;
        }
        Feed {
            kind,
            sources,
            source,
            pos,
            rng,
            long_every,
            stream: Stream::Stdout,
        }
    }

    /// The next logical line (without `\n`; a CRLF file's `\r` is still there) and its
    /// stream. Long lines are built in `scratch`.
    pub(crate) fn next<'a>(
        &mut self,
        corpus: &'a Corpus,
        scratch: &'a mut Vec<u8>,
    ) -> (Stream, &'a [u8]) {
        if self.rng.one_in(self.long_every) {
            self.build_long(corpus, scratch);
            let stream = self.stream_for(scratch);
            return (stream, scratch.as_slice());
        }
        let line = self.advance(corpus);
        (self.stream_for(line), line)
    }

    fn advance<'a>(&mut self, corpus: &'a Corpus) -> &'a [u8] {
        let src = corpus.source(self.source);
        let line = src.line(self.pos);
        self.pos += 1;
        if self.pos >= src.len() {
            self.source = self.sources[self.rng.index(self.sources.len())];
            self.pos = 0;
        }
        line
    }

    /// Chooses the stream: continuation lines (leading blank, `Caused by:`) stay on the
    /// previous line's stream; klog goes to stderr; Java errors and warnings go to stderr;
    /// otherwise stdout with a few stderr lines.
    fn stream_for(&mut self, line: &[u8]) -> Stream {
        if !is_continuation(line) {
            self.stream = match self.kind {
                Kind::Klog => Stream::Stderr,
                Kind::Java
                    if contains(line, b" ERROR ")
                        || contains(line, b" WARN ")
                        || contains(line, b"Exception") =>
                {
                    Stream::Stderr
                }
                Kind::Java | Kind::Syslog => Stream::Stdout,
                Kind::Access if self.rng.one_in(50) => Stream::Stderr,
                Kind::Json | Kind::Custom if self.rng.one_in(10) => Stream::Stderr,
                _ => Stream::Stdout,
            };
        }
        self.stream
    }

    /// A line over 16 KiB: the following corpus lines joined, as an application dumping
    /// a batch would print them. JSON lines become one JSON document
    /// `{"level":"debug","msg":"batch","items":[...],"pad":"..."}`; text lines are joined by
    /// a space. The length is exactly 16384 (one full record), 16385, 32768, or random up
    /// to 64 KiB, so record-boundary cases are covered.
    fn build_long(&mut self, corpus: &Corpus, out: &mut Vec<u8>) {
        const MAX: usize = kelp_k8s::cri::CONTAINERD_MAX_LINE;
        let target = match self.rng.below(4) {
            0 => MAX,
            1 => MAX + 1,
            2 => 2 * MAX,
            _ => MAX + 1 + self.rng.index(3 * MAX),
        };
        out.clear();
        let json = self.kind != Kind::Custom
            && corpus.source(self.source).line(self.pos).first() == Some(&b'{');
        if json {
            const HEAD: &[u8] = br#"{"level":"debug","msg":"batch","items":["#;
            const PAD: &[u8] = br#"],"pad":""#;
            const TAIL: &[u8] = br#""}"#;
            out.extend_from_slice(HEAD);
            loop {
                let line = trim_cr(self.advance(corpus));
                if line.first() != Some(&b'{') {
                    continue;
                }
                let sep = usize::from(out.len() > HEAD.len());
                if out.len() + sep + line.len() + PAD.len() + TAIL.len() > target {
                    break;
                }
                if sep == 1 {
                    out.push(b',');
                }
                out.extend_from_slice(line);
            }
            out.extend_from_slice(PAD);
            out.resize(target - TAIL.len(), b'x');
            out.extend_from_slice(TAIL);
        } else {
            while out.len() < target {
                if !out.is_empty() {
                    out.push(b' ');
                }
                let line = trim_cr(self.advance(corpus));
                out.extend_from_slice(line);
            }
            out.truncate(target);
        }
    }
}

/// A line that continues the previous record: indented (stack frames, dumps) or a
/// `Caused by:` of a Java trace.
fn is_continuation(line: &[u8]) -> bool {
    matches!(line.first(), Some(b' ' | b'\t')) || line.starts_with(b"Caused by")
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_have_the_boundary_lengths_and_json_stays_json() {
        let corpus = Corpus::embedded();
        let mut lens = std::collections::BTreeSet::new();
        for kind in Kind::BUILT_IN {
            let mut feed = Feed::new(&corpus, kind, Rng::new(kind as u64), 1);
            let mut scratch = Vec::new();
            for _ in 0..40 {
                let (_, line) = feed.next(&corpus, &mut scratch);
                assert!(
                    line.len() >= 16384 && line.len() <= 4 * 16384,
                    "{}",
                    line.len()
                );
                assert!(!line.contains(&b'\n'));
                if line.starts_with(b"{\"level\"") {
                    let v: serde_json::Value = serde_json::from_slice(line).unwrap();
                    assert!(v["items"].as_array().is_some_and(|a| !a.is_empty()));
                }
                lens.insert(line.len());
            }
        }
        for want in [16384, 16385, 32768] {
            assert!(lens.contains(&want), "{want}");
        }
    }

    #[test]
    fn the_same_seed_replays_the_same_lines_and_frames_keep_their_stream() {
        let corpus = Corpus::embedded();
        let run = |seed| {
            let mut feed = Feed::new(&corpus, Kind::Java, Rng::new(seed), 0);
            let mut scratch = Vec::new();
            (0..3000)
                .map(|_| {
                    let (s, l) = feed.next(&corpus, &mut scratch);
                    (s, l.to_vec())
                })
                .collect::<Vec<_>>()
        };
        let a = run(11);
        assert_eq!(a, run(11));
        assert_ne!(a, run(12));
        let mut frames = 0;
        for w in a.windows(2) {
            if w[1].1.starts_with(b"\tat ") {
                frames += 1;
                assert_eq!(w[0].0, w[1].0, "a frame changed stream");
            }
        }
        assert!(frames > 10);
        assert!(a.iter().any(|(s, _)| *s == Stream::Stderr));
    }
}
