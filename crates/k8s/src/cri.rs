//! The CRI container log format: `<RFC3339 time> <stdout|stderr> <P|F> <content>\n`.
//!
//! See `docs/` and the Kubernetes spec, section 1.

use kelp_model::Timestamp;

use crate::Stream;

/// containerd's default `max_container_log_line_size`: longer lines are split into `P`
/// records of exactly this many content bytes.
pub const CONTAINERD_MAX_LINE: usize = 16 * 1024;

/// Appends one CRI record (with its trailing LF) to `out`, the way containerd writes it:
/// timestamp in trimmed RFC3339Nano UTC, `P` when `partial`, else `F`.
pub fn format(out: &mut Vec<u8>, ts: Timestamp, stream: Stream, partial: bool, content: &[u8]) {
    ts.write_rfc3339_nano(out);
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// Splits a logical line (without its LF) into record contents as containerd does with a
/// maximum line size `max` (> 0): pieces of exactly `max` bytes marked partial, then the
/// remainder marked full (an empty line gives one empty full record).
///
/// containerd emits a `P` when the buffer *exceeds* `max`, so a line of exactly `max` bytes
/// is one `F` record, and a line of `2 * max` bytes is `P` (`max`) then `F` (`max`).
/// Splits ignore UTF-8 boundaries. A trailing `\r` (from `\r\n`) must be stripped by the
/// caller, as containerd strips it before splitting the final piece.
pub fn split_containerd(line: &[u8], max: usize) -> impl Iterator<Item = (&[u8], bool)> {
    let max = max.max(1);
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let r = rest?;
        if r.len() > max {
            let (head, tail) = r.split_at(max);
            rest = Some(tail);
            Some((head, true))
        } else {
            rest = None;
            Some((r, false))
        }
    })
}
