//! The live-tail WebSocket message (spec §5).

use kelp_model::{Labels, Timestamp};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::response::query::{LogStream, Streams, CATEGORIZE_LABELS};

/// One text frame: `{"streams":[...],"dropped_entries":[...]}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TailMessage {
    /// New entries, grouped by stream (always emitted, possibly `[]`).
    pub streams: Vec<LogStream>,
    /// Entries skipped because the client was too slow (emitted only when non-empty).
    pub dropped_entries: Vec<DroppedEntry>,
    /// `categorize-labels`: adds a top-level `encodingFlags` and the entries' third element.
    pub categorize_labels: bool,
}

/// An entry the server skipped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DroppedEntry {
    /// The stream's labels.
    pub labels: Labels,
    /// The entry's time, serialized as a nanosecond string.
    pub timestamp: Timestamp,
}

impl TailMessage {
    /// The frame's text (no final newline: it is a WebSocket message, not an HTTP body).
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for TailMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("streams", &Streams(&self.streams, self.categorize_labels))?;
        if !self.dropped_entries.is_empty() {
            m.serialize_entry("dropped_entries", &self.dropped_entries)?;
        }
        if self.categorize_labels {
            m.serialize_entry("encodingFlags", &[CATEGORIZE_LABELS])?;
        }
        m.end()
    }
}

impl Serialize for DroppedEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("labels", &self.labels)?;
        m.serialize_entry("timestamp", &self.timestamp.as_unix_nanos().to_string())?;
        m.end()
    }
}
