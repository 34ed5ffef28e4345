//! The terminal: colour only where a person reads it, and a progress line on stderr for
//! long reads.
//!
//! Colour follows `--color auto|always|never`; `auto` means stdout is a terminal and
//! `NO_COLOR` is unset or empty (<https://no-color.org>). The progress line appears on
//! stderr when stderr is a terminal and a command has been reading for more than
//! [`PROGRESS_AFTER`]; it is redrawn every 100 ms, erased before output and at the end,
//! and stops at the first output when stdout is the same terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorMode {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorMode {
    /// Whether to colour stdout.
    pub fn enabled(self) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        }
    }
}

/// Colours that read on dark and light backgrounds (stern's choice of ANSI colours).
const PALETTE: [u8; 6] = [31, 32, 33, 34, 35, 36];

/// Paints text, or leaves it as it is when colour is off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// Colour on or off.
    pub fn new(on: bool) -> Self {
        Self { on }
    }

    /// Whether colour is on.
    pub fn on(self) -> bool {
        self.on
    }

    fn sgr(self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    /// Bold (headers).
    pub fn bold(self, s: &str) -> String {
        self.sgr("1", s)
    }

    /// Green (running).
    pub fn green(self, s: &str) -> String {
        self.sgr("32", s)
    }

    /// Red (deleted, errors).
    pub fn red(self, s: &str) -> String {
        self.sgr("31", s)
    }

    /// Yellow (unknown).
    pub fn yellow(self, s: &str) -> String {
        self.sgr("33", s)
    }

    /// Dim (timestamps).
    pub fn dim(self, s: &str) -> String {
        self.sgr("2", s)
    }

    /// A colour chosen by `key`'s hash, so one pod keeps its colour (as stern does).
    pub fn by_key(self, key: &str, s: &str) -> String {
        // FNV-1a: stable across runs and platforms.
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        self.sgr(&PALETTE[(h % PALETTE.len() as u64) as usize].to_string(), s)
    }
}

/// How long a read runs before the progress line shows.
pub const PROGRESS_AFTER: Duration = Duration::from_millis(500);
/// How often the line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Lines and bytes received so far and the time elapsed, drawn on stderr by a small
/// thread while stderr is a terminal. Output to the same terminal ends it ([`clear`]
/// before the first line printed); output to a file or pipe leaves it running.
///
/// [`clear`]: Progress::clear
#[derive(Debug)]
pub struct Progress {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    enabled: bool,
    /// Whether stdout is a terminal too (asked once).
    stdout_tty: bool,
    began: Instant,
    lines: AtomicU64,
    bytes: AtomicU64,
    /// Shown after this long.
    after: Duration,
    /// Whether the line is on screen, and whether it may be drawn again.
    state: Mutex<(bool, bool)>,
}

impl Inner {
    fn text(&self) -> String {
        format!(
            "kelp: {} lines, {} received, {:.1} s",
            self.lines.load(Ordering::Relaxed),
            human_bytes(self.bytes.load(Ordering::Relaxed)),
            self.began.elapsed().as_secs_f64()
        )
    }

    fn draw(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !st.1 || self.began.elapsed() < self.after {
            return;
        }
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K{}", self.text());
        let _ = e.flush();
        st.0 = true;
    }
}

impl Progress {
    /// A progress line if stderr is a terminal.
    pub fn new() -> Self {
        Self::with(std::io::stderr().is_terminal())
    }

    /// A progress line, drawn or not.
    pub fn with(enabled: bool) -> Self {
        let inner = Arc::new(Inner {
            enabled,
            stdout_tty: enabled && std::io::stdout().is_terminal(),
            began: Instant::now(),
            lines: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            state: Mutex::new((false, enabled)),
            // For tests: `KELP_PROGRESS_AFTER_MS=0` shows it from the first answer.
            after: std::env::var("KELP_PROGRESS_AFTER_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(PROGRESS_AFTER, Duration::from_millis),
        });
        if enabled {
            let weak = Arc::downgrade(&inner);
            // Without a thread, a lone long request would show nothing until it ends.
            let _ = std::thread::Builder::new()
                .name("progress".into())
                .spawn(move || loop {
                    std::thread::sleep(REDRAW_EVERY);
                    match weak.upgrade() {
                        Some(i) => i.draw(),
                        None => return,
                    }
                });
        }
        Self { inner }
    }

    /// Counts a received answer.
    pub fn received(&self, bytes: usize, lines: usize) {
        self.inner.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.inner.lines.fetch_add(lines as u64, Ordering::Relaxed);
        if self.inner.enabled {
            self.inner.draw();
        }
    }

    /// The text of the line.
    pub fn text(&self) -> String {
        self.inner.text()
    }

    /// Erases the line before output; when stdout is the terminal too, for good.
    pub fn clear(&self) {
        if !self.inner.enabled {
            return;
        }
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.0 {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K");
            let _ = e.flush();
            st.0 = false;
        }
        if self.inner.stdout_tty {
            st.1 = false;
        }
    }

    /// Erases the line for good.
    pub fn finish(&self) {
        self.clear();
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        st.1 = false;
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_off_is_plain_and_on_is_ansi() {
        assert_eq!(Paint::new(false).bold("x"), "x");
        assert_eq!(Paint::new(true).bold("x"), "\x1b[1mx\x1b[0m");
        let a = Paint::new(true).by_key("web-1", "x");
        assert_eq!(a, Paint::new(true).by_key("web-1", "x"));
        assert!(a.starts_with("\x1b[3"));
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }

    #[test]
    fn progress_counts() {
        let p = Progress::with(false);
        p.received(2048, 3);
        assert!(p.text().starts_with("kelp: 3 lines, 2.0 KiB received"));
    }
}
