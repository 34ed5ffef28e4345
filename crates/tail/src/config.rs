//! What a [`Follower`](crate::Follower) can be told, and the checked form it runs with.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::TailError;

/// The longest line a config may ask for: 1 GiB. Memory per follower is about this plus
/// [`READ_CHUNK_BYTES`], so a larger limit would only be a way to run out of memory.
pub const MAX_LINE_BYTES_LIMIT: u64 = 1 << 30;

/// How many bytes a follower asks the kernel for in one read.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Where a follower starts reading the file it finds at its first look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// From offset 0, as `tail -F -n +1` does: everything the file holds, then what comes.
    #[default]
    Beginning,
    /// From the file's end at the first look, as `tail -F -n 0` does. Only the first file is
    /// affected: a file that appears later (after a rotation, or because the path did not
    /// exist at the first look) is new, so it is read from its beginning.
    End,
}

/// How to follow a file, as a user writes it. [`Follower::new`](crate::Follower::new)
/// checks it; unknown fields are rejected when deserialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FollowConfig {
    /// Where to start in the file present at the first look. Default: the beginning.
    pub start: StartAt,
    /// The longest line handed out, in bytes, without its `\n`; a longer line comes out in
    /// pieces of this size marked [`LineEnd::Split`](crate::LineEnd::Split). Between 1 and
    /// [`MAX_LINE_BYTES_LIMIT`]. Default: 256 KiB.
    pub max_line_bytes: u64,
    /// How long the last, unterminated line of the data waits for its `\n` while no new
    /// byte arrives; then it is handed out as it is, marked
    /// [`LineEnd::Unterminated`](crate::LineEnd::Unterminated), and the bytes that come
    /// later start a new line. `None` (the default) waits forever: such a line comes out
    /// only when completed or at [`Follower::finish`](crate::Follower::finish).
    pub partial_flush_ms: Option<u64>,
    /// After the path stops naming the open file (renamed or deleted), how long the open
    /// file is still read, counted from the later of the moment the change was seen and the
    /// last byte read from it, before the follower lets it go and moves on. Writers that
    /// keep the old descriptor until they reopen (logrotate's `create` mode with a `HUP`,
    /// containerd at `ReopenContainerLog`) write into the renamed file meanwhile. Default:
    /// 1000 ms.
    pub rotate_wait_ms: u64,
}

impl Default for FollowConfig {
    fn default() -> Self {
        Self {
            start: StartAt::Beginning,
            max_line_bytes: 256 * 1024,
            partial_flush_ms: None,
            rotate_wait_ms: 1000,
        }
    }
}

/// A checked [`FollowConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) start: StartAt,
    pub(crate) max_line_bytes: usize,
    pub(crate) partial_flush: Option<Duration>,
    pub(crate) rotate_wait: Duration,
}

impl FollowConfig {
    /// Checks the values and turns them into the types the follower runs with.
    pub(crate) fn validate(&self) -> Result<Settings, TailError> {
        let bad = |field, reason| TailError::InvalidConfig { field, reason };
        if self.max_line_bytes == 0 {
            return Err(bad("max_line_bytes", "must be at least 1"));
        }
        if self.max_line_bytes > MAX_LINE_BYTES_LIMIT {
            return Err(bad("max_line_bytes", "must be at most 1Gi"));
        }
        let max_line_bytes = usize::try_from(self.max_line_bytes)
            .map_err(|_| bad("max_line_bytes", "does not fit in memory"))?;
        Ok(Settings {
            start: self.start,
            max_line_bytes,
            partial_flush: self.partial_flush_ms.map(Duration::from_millis),
            rotate_wait: Duration::from_millis(self.rotate_wait_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_line_length() {
        let with = |max_line_bytes| FollowConfig {
            max_line_bytes,
            ..FollowConfig::default()
        };
        assert!(with(0).validate().is_err());
        assert!(with(MAX_LINE_BYTES_LIMIT + 1).validate().is_err());
        assert_eq!(with(1).validate().unwrap().max_line_bytes, 1);
        assert_eq!(
            FollowConfig::default().validate().unwrap().max_line_bytes,
            256 * 1024
        );
    }

    #[test]
    fn deserializes_with_defaults_and_rejects_unknown_fields() {
        let c: FollowConfig =
            serde_json::from_str(r#"{"start":"end","partial_flush_ms":5000}"#).unwrap();
        assert_eq!(c.start, StartAt::End);
        assert_eq!(c.partial_flush_ms, Some(5000));
        assert_eq!(c.rotate_wait_ms, 1000);
        assert!(serde_json::from_str::<FollowConfig>(r#"{"strat":"end"}"#).is_err());
    }
}
