//! The text the simulated containers print: real log lines from the corpus excerpts shipped
//! in the repository's `corpus/` folder (embedded in the binary), or every regular file of a
//! directory the user names.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::SimError;

/// What a container prints, which decides the corpus files it replays and how it picks
/// stdout or stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Web access logs (Apache/nginx combined), as nginx, Envoy or an ingress controller.
    Access,
    /// One JSON document per line: Zeek events, Kubernetes audit events, Windows events
    /// (the latter with CRLF line ends, which containerd strips).
    Json,
    /// Java server logs with multi-line stack traces (log4j, JBoss); every frame is a
    /// line of its own, as the application writes it.
    Java,
    /// klog, as Kubernetes components write it (always to stderr).
    Klog,
    /// BSD syslog text (sshd, CRON, sudo).
    Syslog,
    /// Lines from a user-supplied `--corpus` directory.
    Custom,
}

#[cfg(test)]
impl Kind {
    /// The built-in kinds, in a fixed order.
    pub(crate) const BUILT_IN: [Kind; 5] = [
        Kind::Access,
        Kind::Json,
        Kind::Java,
        Kind::Klog,
        Kind::Syslog,
    ];
}

macro_rules! embedded {
    ($($kind:ident $path:literal,)*) => {
        &[$((Kind::$kind, $path, include_bytes!(concat!("../../../corpus/", $path)) as &[u8]),)*]
    };
}

/// The embedded corpus: (kind, path under `corpus/`, bytes). Provenance and licences are in
/// `corpus/README.md` and each folder's `UPSTREAM-LICENSE`.
const EMBEDDED: &[(Kind, &str, &[u8])] = embedded![
    Access "elastic-apache-access/apache_logs",
    Syslog "elastic-auth-syslog/auth.log",
    Java "elastic-kafka-log4j/kafka0/logs/server.log.2016-12-19-20",
    Java "elastic-kafka-log4j/kafka1/logs/server.log.2016-12-19-20",
    Java "jboss-eap-java-multiline/realworld.append",
    Java "jboss-eap-java-multiline/exceptions/exception-maven.txt",
    Java "jboss-eap-java-multiline/exceptions/exception-with-causes.txt",
    Java "jboss-eap-java-multiline/exceptions/exception-with-causes2.txt",
    Java "jboss-eap-java-multiline/exceptions/exception-with-line-prefix.txt",
    Java "jboss-eap-java-multiline/exceptions/issue-57_1.txt",
    Java "jboss-eap-java-multiline/exceptions/issue-57_2.txt",
    Klog "kubelet-windows-klog/kubelet.log",
    Json "otrf-zeek-json/apt29/day1/zeek/combined_zeek.log",
    Json "audit2rbac-k8s-audit-json/demo.log",
    Json "otrf-windows-eventlog-json/psh_python_webserver_2020-10-2900161507.json",
];

/// The licence texts of the embedded corpus, to show with the binary (Apache-2.0 §4 and
/// MIT ask redistributions to carry them): `corpus/README.md`, then each folder's
/// `UPSTREAM-LICENSE`.
pub const NOTICE: &[(&str, &str)] = &[
    (
        "corpus/README.md",
        include_str!("../../../corpus/README.md"),
    ),
    (
        "elastic-apache-access/UPSTREAM-LICENSE",
        include_str!("../../../corpus/elastic-apache-access/UPSTREAM-LICENSE"),
    ),
    (
        "elastic-auth-syslog/UPSTREAM-LICENSE",
        include_str!("../../../corpus/elastic-auth-syslog/UPSTREAM-LICENSE"),
    ),
    (
        "elastic-kafka-log4j/UPSTREAM-LICENSE",
        include_str!("../../../corpus/elastic-kafka-log4j/UPSTREAM-LICENSE"),
    ),
    (
        "jboss-eap-java-multiline/UPSTREAM-LICENSE",
        include_str!("../../../corpus/jboss-eap-java-multiline/UPSTREAM-LICENSE"),
    ),
    (
        "kubelet-windows-klog/UPSTREAM-LICENSE",
        include_str!("../../../corpus/kubelet-windows-klog/UPSTREAM-LICENSE"),
    ),
    (
        "otrf-zeek-json/UPSTREAM-LICENSE",
        include_str!("../../../corpus/otrf-zeek-json/UPSTREAM-LICENSE"),
    ),
    (
        "audit2rbac-k8s-audit-json/UPSTREAM-LICENSE",
        include_str!("../../../corpus/audit2rbac-k8s-audit-json/UPSTREAM-LICENSE"),
    ),
    (
        "otrf-windows-eventlog-json/UPSTREAM-LICENSE",
        include_str!("../../../corpus/otrf-windows-eventlog-json/UPSTREAM-LICENSE"),
    ),
];

/// One corpus file split into lines.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) kind: Kind,
    data: Cow<'static, [u8]>,
    /// `(start, end)` of each line in `data`, without its `\n`.
    lines: Vec<(usize, usize)>,
}

impl Source {
    fn new(kind: Kind, data: Cow<'static, [u8]>) -> Self {
        let mut lines = Vec::new();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &data) {
            lines.push((start, end));
            start = end + 1;
        }
        if start < data.len() {
            lines.push((start, data.len()));
        }
        Source { kind, data, lines }
    }

    /// Number of lines (at least 1 for every source kept in a [`Corpus`]).
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }

    /// Line `i` without its `\n` (a `\r` before it is kept here).
    pub(crate) fn line(&self, i: usize) -> &[u8] {
        let (s, e) = self.lines[i];
        &self.data[s..e]
    }
}

/// The lines containers replay, grouped by [`Kind`].
#[derive(Debug)]
pub(crate) struct Corpus {
    sources: Vec<Source>,
    custom: bool,
}

impl Corpus {
    /// The corpus embedded in the binary.
    pub(crate) fn embedded() -> Self {
        let sources = EMBEDDED
            .iter()
            .map(|(kind, _, data)| Source::new(*kind, Cow::Borrowed(*data)))
            .filter(|s| s.len() > 0)
            .collect();
        Corpus {
            sources,
            custom: false,
        }
    }

    /// Every regular file under `dir` (recursively, in path order), lines split on `\n`.
    pub(crate) fn from_dir(dir: &Path) -> Result<Self, SimError> {
        let mut files = Vec::new();
        collect_files(dir, &mut files)?;
        files.sort();
        let mut sources = Vec::new();
        for path in files {
            let data = std::fs::read(&path).map_err(SimError::io("read", &path))?;
            let source = Source::new(Kind::Custom, Cow::Owned(data));
            if source.len() > 0 {
                sources.push(source);
            }
        }
        if sources.is_empty() {
            return Err(SimError::Corpus {
                path: dir.to_path_buf(),
                reason: "no regular file with at least one line",
            });
        }
        Ok(Corpus {
            sources,
            custom: true,
        })
    }

    /// Whether this is a user corpus (every container is then of kind [`Kind::Custom`]).
    pub(crate) fn is_custom(&self) -> bool {
        self.custom
    }

    /// Source `i`.
    pub(crate) fn source(&self, i: usize) -> &Source {
        &self.sources[i]
    }

    /// Indexes of the sources a container of `kind` may replay (all of them for a user
    /// corpus); never empty.
    pub(crate) fn sources_for(&self, kind: Kind) -> Vec<usize> {
        let of_kind: Vec<usize> = (0..self.sources.len())
            .filter(|&i| self.custom || self.sources[i].kind == kind)
            .collect();
        if of_kind.is_empty() {
            (0..self.sources.len()).collect()
        } else {
            of_kind
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SimError> {
    let entries = std::fs::read_dir(dir).map_err(SimError::io("read directory", dir))?;
    for entry in entries {
        let entry = entry.map_err(SimError::io("read directory", dir))?;
        let path = entry.path();
        // Follow symlinks, as a user pointing at a folder of logs would expect.
        let meta = std::fs::metadata(&path).map_err(SimError::io("stat", &path))?;
        if meta.is_dir() {
            collect_files(&path, out)?;
        } else if meta.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_lf_and_keep_a_last_line_without_lf() {
        let s = Source::new(Kind::Custom, Cow::Borrowed(b"a\r\n\nlast"));
        assert_eq!(s.len(), 3);
        assert_eq!(s.line(0), b"a\r");
        assert_eq!(s.line(1), b"");
        assert_eq!(s.line(2), b"last");
    }

    #[test]
    fn embedded_corpus_has_every_built_in_kind() {
        let c = Corpus::embedded();
        assert_eq!(c.sources.len(), EMBEDDED.len());
        for kind in Kind::BUILT_IN {
            assert!(c.sources.iter().any(|s| s.kind == kind), "{kind:?}");
        }
        let total: usize = EMBEDDED.iter().map(|(_, _, d)| d.len()).sum();
        assert!(
            total < 1_500_000,
            "the embedded corpus grew to {total} bytes"
        );
    }

    #[test]
    fn a_directory_corpus_reads_every_regular_file_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b.log"), "b1\nb2\n").unwrap();
        std::fs::write(dir.path().join("sub/a.log"), "a1\n").unwrap();
        std::fs::write(dir.path().join("empty"), "").unwrap();
        let c = Corpus::from_dir(dir.path()).unwrap();
        assert!(c.is_custom());
        assert_eq!(c.sources.len(), 2);
        assert_eq!(c.source(0).line(1), b"b2");
        assert_eq!(c.source(1).line(0), b"a1");
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            Corpus::from_dir(empty.path()),
            Err(SimError::Corpus { .. })
        ));
    }
}
