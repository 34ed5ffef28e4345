//! JSON-lines sinks: a file (fsynced before the acknowledgement) and standard output.
//! One object per entry:
//! `{"timestamp":"<RFC 3339, ns>","labels":{..},"metadata":{..},"line":".."}`
//! (a line that is not UTF-8 is written with U+FFFD in place of the bad bytes).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kelp_model::StreamEntries;

use super::es::json_str;
use super::Sink;
use crate::AgentError;

/// Encodes `streams` as JSON lines into `out`.
pub fn encode_json_lines(streams: &[StreamEntries], out: &mut Vec<u8>) {
    for s in streams {
        let mut labels = b"{".to_vec();
        for (i, p) in s.labels.iter().enumerate() {
            if i > 0 {
                labels.push(b',');
            }
            json_str(&mut labels, &p.name);
            labels.push(b':');
            json_str(&mut labels, &p.value);
        }
        labels.push(b'}');
        for e in &s.entries {
            out.extend_from_slice(br#"{"timestamp":""#);
            e.timestamp.write_rfc3339_nano(out);
            out.extend_from_slice(br#"","labels":"#);
            out.extend_from_slice(&labels);
            out.extend_from_slice(br#","metadata":{"#);
            for (i, m) in e.metadata.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(out, &m.name);
                out.push(b':');
                json_str(out, &m.value);
            }
            out.extend_from_slice(br#"},"line":"#);
            json_str(out, &String::from_utf8_lossy(&e.line));
            out.extend_from_slice(b"}\n");
        }
    }
}

/// Appends JSON lines to a file and fsyncs it before acknowledging.
pub struct FileSink {
    path: PathBuf,
    file: Mutex<File>,
}

impl FileSink {
    /// Opens (creates) `path` for appending.
    pub fn open(path: &Path) -> Result<Self, AgentError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| AgentError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }
}

impl Sink for FileSink {
    fn send(&self, streams: &[StreamEntries]) -> Result<(), AgentError> {
        let mut out = Vec::new();
        encode_json_lines(streams, &mut out);
        let io = |source| AgentError::Io {
            path: self.path.clone(),
            source,
        };
        // A poisoned lock means another send panicked mid-write; the file is still usable.
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&out).map_err(io)?;
        f.sync_data().map_err(io)
    }
}

/// Writes JSON lines to standard output (acknowledged once written and flushed).
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn send(&self, streams: &[StreamEntries]) -> Result<(), AgentError> {
        let mut out = Vec::new();
        encode_json_lines(streams, &mut out);
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&out)
            .and_then(|()| stdout.flush())
            .map_err(|source| AgentError::Io {
                path: "<stdout>".into(),
                source,
            })
    }
}
