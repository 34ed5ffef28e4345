//! Entry points for the criterion benchmark in `benches/` (not a stable API).

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kelp_k8s::Stream;
use kelp_model::{Entry, Timestamp};

use crate::chain::{Chain, ChainTiming, Out};
use crate::policy::Target;
use crate::process::{Processing, Setup};
use crate::{AgentConfig, AgentError};

/// Reads the container log `live` to its end as the reader does (decode, join, the
/// processing `config` asks for the container `ns/pod/app`, entries) and returns the
/// entries and their bytes.
pub fn drain(live: &Path, config: &AgentConfig) -> Result<(usize, usize), AgentError> {
    let processing = Processing::compile(config)?;
    let setup = processing.setup(Target {
        namespace: "ns",
        pod: "pod",
        container: "app",
    });
    let timing = ChainTiming {
        rotate_wait: Duration::ZERO,
    };
    let now = Instant::now();
    let mut chain = Chain::open(live.to_owned(), &[], None, timing, now);
    let mut entries: Vec<Entry> = Vec::new();
    let metadata = Vec::new();
    let mut emit = |_k: usize, timestamp: Timestamp, line: Bytes| {
        entries.push(Entry {
            timestamp,
            line,
            metadata: Vec::clone(&metadata),
        })
    };
    match setup {
        Setup::Excluded => {}
        Setup::Plain => {
            while chain.poll(now, &mut |o: Out<'_>| {
                let _k = usize::from(o.line.stream == Stream::Stderr);
                emit(_k, o.line.timestamp, Bytes::copy_from_slice(o.line.content));
            }) {}
        }
        Setup::Processed(mut p) => {
            while chain.poll(now, &mut |o: Out<'_>| p.push(o, now, &mut emit)) {}
            p.finish(&mut emit);
        }
    }
    let bytes = entries.iter().map(|e| e.line.len()).sum();
    Ok((entries.len(), bytes))
}

/// One pass of the journal reader over `dir` (the default units, no age limit, 1 MiB
/// batches) strictly after `after`: the entries read and the resume point after them.
pub fn journal_pass(
    dir: &Path,
    after: Option<crate::checkpoint::JournalMark>,
) -> (usize, Option<crate::checkpoint::JournalMark>) {
    let config = crate::journal::JournalConfig {
        dir: dir.to_owned(),
        max_age: Duration::from_secs(u64::from(u32::MAX) * 1000),
        ..Default::default()
    };
    let mut reader =
        crate::journal::JournalReader::new(config, "n".into(), 1 << 20, after, Default::default());
    let (mut n, mut last) = (0, None);
    reader.pass(&mut |b| {
        n += b.streams.iter().map(|s| s.entries.len()).sum::<usize>();
        last = b.journal;
        true
    });
    (n, last)
}
