//! The terminal: colour only where a person reads it, and a progress line on stderr for
//! long reads.
//!
//! Colour follows `--color auto|always|never`; `auto` means stdout is a terminal and
//! `NO_COLOR` is unset or empty (<https://no-color.org>). The progress line appears on
//! stderr when stderr is a terminal and a command has been reading for more than
//! [`PROGRESS_AFTER`]; it is redrawn at most every 100 ms and erased before any output
//! and at the end.

use std::cell::{Cell, RefCell};
use std::io::{IsTerminal, Write};
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

/// Lines and bytes received so far, drawn on stderr when it is a terminal.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    began: Instant,
    lines: Cell<u64>,
    bytes: Cell<u64>,
    drawn: Cell<bool>,
    last_draw: RefCell<Option<Instant>>,
}

impl Progress {
    /// A progress line if stderr is a terminal.
    pub fn new() -> Self {
        Self::with(std::io::stderr().is_terminal())
    }

    /// A progress line, drawn or not.
    pub fn with(enabled: bool) -> Self {
        Self {
            enabled,
            began: Instant::now(),
            lines: Cell::new(0),
            bytes: Cell::new(0),
            drawn: Cell::new(false),
            last_draw: RefCell::new(None),
        }
    }

    /// Counts a received answer.
    pub fn received(&self, bytes: usize, lines: usize) {
        self.bytes.set(self.bytes.get() + bytes as u64);
        self.lines.set(self.lines.get() + lines as u64);
        self.draw();
    }

    /// The text of the line.
    pub fn text(&self) -> String {
        format!(
            "kelp: {} lines, {} received, {:.1} s",
            self.lines.get(),
            human_bytes(self.bytes.get()),
            self.began.elapsed().as_secs_f64()
        )
    }

    fn draw(&self) {
        if !self.enabled || self.began.elapsed() < PROGRESS_AFTER {
            return;
        }
        let now = Instant::now();
        let mut last = self.last_draw.borrow_mut();
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_millis(100)) {
            return;
        }
        *last = Some(now);
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K{}", self.text());
        let _ = e.flush();
        self.drawn.set(true);
    }

    /// Erases the line (before output, and at the end).
    pub fn clear(&self) {
        if self.drawn.replace(false) {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K");
            let _ = e.flush();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
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
