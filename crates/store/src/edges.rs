//! The oldest and the newest entry of every stream a selector matches, from one pass over
//! the index: what "first seen" and "last seen" questions need without reading logs.

use std::collections::HashMap;

use kelp_model::{StreamId, TenantId, Timestamp};
use rayon::prelude::*;

use crate::matcher::{Filters, LabelMatcher};
use crate::scan::{read_source, ScanEntry, Src};
use crate::store::Store;
use crate::Result;

/// A stream's oldest and newest entry in a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEdges {
    /// The oldest entry (its `labels` are the stream's).
    pub first: ScanEntry,
    /// The newest entry.
    pub last: ScanEntry,
}

impl Store {
    /// The oldest and the newest entry in `[start, end)` of each stream matching
    /// `matchers`, in stream-id order. Per stream and direction, sources (blocks, head
    /// chunks) are read from the edge inward, one entry each, until no other source can
    /// hold an older (newer) entry: usually one block or chunk at each end.
    pub fn stream_edges(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<StreamEdges>> {
        let (start, end) = (start.as_unix_nanos(), end.as_unix_nanos());
        let (srcs, _) = self.sources(tenant, matchers, start, end);
        let mut by_stream: HashMap<StreamId, Vec<Src>> = HashMap::new();
        for s in srcs {
            by_stream.entry(s.stream).or_default().push(s);
        }
        let mut groups: Vec<(StreamId, Vec<Src>)> = by_stream.into_iter().collect();
        groups.sort_by_key(|g| g.0);
        let none = Filters::compile(&[])?;
        let out: Vec<Option<StreamEdges>> = groups
            .into_par_iter()
            .map(|(_, mut srcs)| -> Result<Option<StreamEdges>> {
                let first = edge(&mut srcs, (start, end), &none, true)?;
                let last = edge(&mut srcs, (start, end), &none, false)?;
                Ok(first
                    .zip(last)
                    .map(|(first, last)| StreamEdges { first, last }))
            })
            .collect::<Result<_>>()?;
        Ok(out.into_iter().flatten().collect())
    }
}

/// The oldest (`fwd`) or newest entry of one stream's sources in `[start, end)`.
fn edge(
    srcs: &mut [Src],
    (start, end): (i64, i64),
    none: &Filters,
    fwd: bool,
) -> Result<Option<ScanEntry>> {
    if fwd {
        srcs.sort_by_key(|s| s.min_ts);
    } else {
        srcs.sort_by_key(|s| std::cmp::Reverse(s.max_ts));
    }
    let mut best: Option<ScanEntry> = None;
    for s in srcs.iter() {
        if let Some(b) = &best {
            let t = b.timestamp.as_unix_nanos();
            if (fwd && s.min_ts > t) || (!fwd && s.max_ts < t) {
                break;
            }
        }
        if let Some(e) = read_source(s, start, end, none, fwd, 1)?.into_iter().next() {
            let better = best.as_ref().is_none_or(|b| {
                if fwd {
                    e.timestamp < b.timestamp
                } else {
                    e.timestamp > b.timestamp
                }
            });
            if better {
                best = Some(e);
            }
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use kelp_model::{Entry, Labels, StreamEntries};

    use super::*;
    use crate::StoreConfig;

    #[test]
    fn edges_of_head_and_flushed_data() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let tenant = TenantId::parse("t").unwrap();
        let labels = |c: &str| Labels::from_pairs([("app", "x"), ("c", c)]).unwrap();
        let t = |s: i64| Timestamp::from_unix_secs(1_700_000_000 + s);
        let batch = |c: &str, secs: &[i64]| StreamEntries {
            labels: labels(c),
            entries: secs
                .iter()
                .map(|s| Entry::new(t(*s), format!("{c}{s}")))
                .collect(),
        };
        store
            .append(&tenant, &[batch("a", &[1, 2, 3]), batch("b", &[5])])
            .unwrap();
        store.flush().unwrap();
        store.append(&tenant, &[batch("a", &[4, 6])]).unwrap();
        let m = [LabelMatcher::eq("app", "x")];
        let mut got: Vec<(String, String)> = store
            .stream_edges(&tenant, &m, t(0), t(100))
            .unwrap()
            .iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(&e.first.line).into_owned(),
                    String::from_utf8_lossy(&e.last.line).into_owned(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [("a1".into(), "a6".into()), ("b5".into(), "b5".into())]
        );
        // The range cuts inside the sources.
        let e = store
            .stream_edges(&tenant, &[LabelMatcher::eq("c", "a")], t(2), t(5))
            .unwrap();
        assert_eq!(
            (&e[0].first.line[..], &e[0].last.line[..]),
            (&b"a2"[..], &b"a4"[..])
        );
        assert!(store
            .stream_edges(&tenant, &m, t(50), t(60))
            .unwrap()
            .is_empty());
    }
}
