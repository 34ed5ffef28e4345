//! `kelp stream`: the streaming sidecar. It follows files an application writes into a
//! volume it shares with the sidecar and copies their lines to the sidecar's own stdout, so
//! the container runtime and the kubelet capture them as a container log stream
//! (`kubectl logs POD -c SIDECAR`). Following, rotation and truncation are `kelp-tail`'s;
//! this file is flags, the poll loop, signals and output.

use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use kelp_model::ByteSize;
use kelp_tail::{FollowConfig, Follower, StartAt};

/// Examples shown by `kelp stream --help`.
pub const EXAMPLES: &str = "\
Examples:
  # Follow a file from its beginning, through rotations, onto stdout:
  kelp stream /var/log/app/access.log

  # Only lines written from now on, onto stderr:
  kelp stream --from end --stream stderr /var/log/app/error.log

  # Print what two files hold now, each line tagged with its file, and exit:
  kelp stream --exit-on-eof --prefix app.log access.log

In Kubernetes, run one sidecar per file, sharing an emptyDir volume with the app; each
sidecar's stdout becomes a container log stream of its own (kubectl logs POD -c access-log):

  containers:
  - name: app
    volumeMounts: [{name: logs, mountPath: /var/log/app}]
  - name: access-log
    image: kelp
    args: [stream, /var/log/app/access.log]
    volumeMounts: [{name: logs, mountPath: /var/log/app}]
  volumes: [{name: logs, emptyDir: {}}]

More, with rotation behaviour and its limits: docs/stream.md.";

/// How many lines one file may write before the others get their turn.
const LINES_PER_TURN: usize = 1024;

/// How long the final read after a stop signal may take when files keep growing.
const FINAL_DRAIN: Duration = Duration::from_secs(2);

/// Arguments of `kelp stream`.
#[derive(Debug, clap::Args)]
pub struct StreamArgs {
    /// Files to follow; they need not exist yet. In Kubernetes, one sidecar per file is the
    /// pattern: each file then gets a log stream of its own.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Where to write the lines.
    #[arg(long, value_enum, default_value_t = OutStream::Stdout)]
    pub stream: OutStream,

    /// Where to start in a file that exists at start: `beginning` (all it holds, like
    /// `tail -F -n +1`) or `end` (only new lines). Files that appear later, and files
    /// after a rotation, are read from their beginning.
    #[arg(long, value_enum, default_value_t = StartFrom::Beginning)]
    pub from: StartFrom,

    /// How often to look for new lines and rotations, in milliseconds.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub poll_ms: u64,

    /// Longest line written, as a Kubernetes quantity (`64Ki`, `1Mi`); a longer line comes
    /// out as several lines of at most this many bytes.
    #[arg(long, default_value = "256Ki", value_parser = parse_byte_size)]
    pub max_line_bytes: ByteSize,

    /// A last line without its `\n` is written anyway once its file has been idle this many
    /// milliseconds; 0 holds it until it is completed or kelp exits.
    #[arg(long, default_value_t = 5000)]
    pub partial_flush_ms: u64,

    /// How long a rotated or deleted file is still read after its last byte before kelp
    /// moves on to the new file, in milliseconds: writers keep writing into the rotated
    /// file until they reopen the path.
    #[arg(long, default_value_t = 1000)]
    pub rotate_wait_ms: u64,

    /// Start each line with its file's path and `: `. Off by default: the Kubernetes
    /// pattern is one sidecar, so one log stream, per file.
    #[arg(long)]
    pub prefix: bool,

    /// Write what the files hold now, then exit instead of following them.
    #[arg(long)]
    pub exit_on_eof: bool,
}

/// The output stream `kelp stream` writes lines to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Where `kelp stream` starts in a file that exists at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StartFrom {
    /// Its first byte.
    Beginning,
    /// Its end: only lines written after start.
    End,
}

fn parse_byte_size(s: &str) -> Result<ByteSize, String> {
    ByteSize::parse(s).map_err(|e| e.to_string())
}

/// Runs `kelp stream`: follows every file until SIGTERM, SIGINT or SIGHUP (then reads what
/// is left, writes any unterminated last lines, and exits 0), or to their ends with
/// `--exit-on-eof`.
pub fn run(args: StreamArgs) -> anyhow::Result<()> {
    let config = FollowConfig {
        start: match args.from {
            StartFrom::Beginning => StartAt::Beginning,
            StartFrom::End => StartAt::End,
        },
        max_line_bytes: args.max_line_bytes.as_u64(),
        partial_flush_ms: (args.partial_flush_ms > 0).then_some(args.partial_flush_ms),
        rotate_wait_ms: args.rotate_wait_ms,
    };
    let mut sources = Vec::with_capacity(args.files.len());
    for path in &args.files {
        if args.exit_on_eof && !path.exists() {
            anyhow::bail!("{}: no such file", path.display());
        }
        let mut prefix = Vec::new();
        if args.prefix {
            prefix.extend_from_slice(path.as_os_str().as_bytes());
            prefix.extend_from_slice(b": ");
        }
        let follower = Follower::new(path, &config)?;
        sources.push(Source { follower, prefix });
    }
    let stop = stop_on_signals()?;
    let mut out = Output::new(args.stream);
    let poll = Duration::from_millis(args.poll_ms);
    let mut drain_until = None;
    loop {
        let mut more = false;
        for source in &mut sources {
            more |= source.pump(&mut out)?;
        }
        if stop.load(Ordering::SeqCst) {
            let until = *drain_until.get_or_insert_with(|| Instant::now() + FINAL_DRAIN);
            if !more || Instant::now() >= until {
                break;
            }
        } else if !more {
            out.flush()?;
            if args.exit_on_eof {
                break;
            }
            std::thread::sleep(poll);
        }
    }
    for source in &mut sources {
        while let Some(line) = source.follower.flush_partial() {
            out.line(&source.prefix, line.bytes)?;
        }
    }
    out.flush()
}

/// Sets a flag on the first SIGTERM, SIGINT or SIGHUP (a pod's termination, Ctrl-C, a closed
/// terminal); a second one exits at once, for a final read that would take too long.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .context("installing the SIGTERM/SIGINT/SIGHUP handler")?;
    Ok(stop)
}

/// One followed file and the prefix of its lines.
struct Source {
    follower: Follower,
    prefix: Vec<u8>,
}

impl Source {
    /// Writes the lines the file has now, up to [`LINES_PER_TURN`]; true if it may have
    /// more.
    fn pump(&mut self, out: &mut Output) -> anyhow::Result<bool> {
        for _ in 0..LINES_PER_TURN {
            match self.follower.next_line()? {
                Some(line) => out.line(&self.prefix, line.bytes)?,
                None => return Ok(false),
            }
        }
        Ok(true)
    }
}

/// The output stream, buffered: one thread writes, and each line (prefix, bytes, `\n`) goes
/// into the buffer in one piece, so lines from different files interleave only at line
/// boundaries. The buffer is flushed whenever the files have nothing more for now.
struct Output {
    out: BufWriter<Box<dyn Write>>,
    name: &'static str,
    scratch: Vec<u8>,
}

impl Output {
    fn new(stream: OutStream) -> Self {
        let (inner, name): (Box<dyn Write>, _) = match stream {
            OutStream::Stdout => (Box::new(io::stdout().lock()), "stdout"),
            OutStream::Stderr => (Box::new(io::stderr().lock()), "stderr"),
        };
        Self {
            out: BufWriter::with_capacity(64 * 1024, inner),
            name,
            scratch: Vec::new(),
        }
    }

    fn line(&mut self, prefix: &[u8], bytes: &[u8]) -> anyhow::Result<()> {
        self.scratch.clear();
        self.scratch.extend_from_slice(prefix);
        self.scratch.extend_from_slice(bytes);
        self.scratch.push(b'\n');
        let name = self.name;
        self.out
            .write_all(&self.scratch)
            .with_context(|| format!("writing to {name}"))
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        let name = self.name;
        self.out
            .flush()
            .with_context(|| format!("writing to {name}"))
    }
}
