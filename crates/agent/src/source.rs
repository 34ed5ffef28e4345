//! Plain-text file sources besides pod logs: the sidecar mode (`--files GLOB` with
//! static labels, for applications that write files into a shared volume) and node log
//! files (`--node-logs '/var/log/*.log'`). Each matching file is followed by descriptor
//! like a pod log (rename rotation drained, copytruncate detected, checkpointed by
//! device + inode + head) and its lines are labelled `job`, `filename` (its path, as
//! Promtail does) and `node`, plus the static labels.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::AgentError;

/// The control plane's log files where it runs outside static pods (kubeadm-less
/// setups, `kube-up`-style hosts): `kube-apiserver.log`, `kube-scheduler.log`,
/// `kube-controller-manager.log` (and `kube-proxy.log`), `etcd.log`. `--control-plane-logs`
/// follows them with `job="control-plane"`; their klog headers give time and `level`.
pub const CONTROL_PLANE_GLOBS: [&str; 2] = ["/var/log/kube-*.log", "/var/log/etcd.log"];

/// A file pattern: a directory, literal, and a file-name pattern where `*` matches any
/// run of characters and `?` any one character (`/var/log/*.log`). Wildcards in the
/// directory part are refused: the agent watches one directory per pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    dir: PathBuf,
    name: String,
}

impl Glob {
    /// Parses `pattern`, which must be absolute, with wildcards in its last component only.
    pub fn parse(pattern: &str) -> Result<Self, AgentError> {
        let bad = |why: &str| AgentError::Config(format!("file pattern {pattern:?}: {why}"));
        let path = Path::new(pattern);
        if !path.is_absolute() {
            return Err(bad("must be an absolute path"));
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("has no file name"))?;
        let dir = path.parent().ok_or_else(|| bad("has no directory"))?;
        if dir.to_str().is_some_and(|d| d.contains(['*', '?', '['])) || dir.to_str().is_none() {
            return Err(bad(
                "wildcards are only allowed in the file name (the last component)",
            ));
        }
        if name.contains('[') {
            return Err(bad(
                "character classes ([...]) are not supported; use * or ?",
            ));
        }
        Ok(Self {
            dir: dir.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a file name in [`Glob::dir`] matches.
    pub fn matches(&self, name: &str) -> bool {
        wildcard(self.name.as_bytes(), name.as_bytes())
    }

    /// The files of the directory that match now, sorted.
    pub fn list(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
            .filter(|e| e.file_name().to_str().is_some_and(|n| self.matches(n)))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        out.sort();
        out
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dir.join(&self.name).display())
    }
}

/// `*` and `?` matching, iterative with one backtrack point (linear in practice).
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// One plain-text file source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    /// Which files.
    pub glob: Glob,
    /// Labels of every line, `job` among them (`filename` and `node` are added).
    pub labels: Vec<(String, String)>,
}

impl FileSource {
    /// A source of `pattern` with `labels` (`k=v`); `job` defaults to `default_job`.
    pub fn new(pattern: &str, labels: &[String], default_job: &str) -> Result<Self, AgentError> {
        let glob = Glob::parse(pattern)?;
        let mut pairs = Vec::new();
        for l in labels {
            let (k, v) = l
                .split_once('=')
                .ok_or_else(|| AgentError::Config(format!("label {l:?}: expected NAME=VALUE")))?;
            if matches!(k, "filename" | "node") {
                return Err(AgentError::Config(format!(
                    "label {k:?} is set by the agent and cannot be given"
                )));
            }
            pairs.push((k.to_owned(), v.to_owned()));
        }
        if !pairs.iter().any(|(k, _)| k == "job") {
            pairs.push(("job".into(), default_job.into()));
        }
        // Checked now, so a bad name is an error at start, not a silently unlabelled line.
        kelp_model::Labels::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain([("filename", "/x"), ("node", "n")]),
        )
        .map_err(|e| AgentError::Config(format!("labels of {pattern:?}: {e}")))?;
        Ok(Self {
            glob,
            labels: pairs,
        })
    }
}

/// Files a plain file may have been renamed to by logrotate (`app.log.1`,
/// `app.log-20240601`, `app.log.2.gz`): where a checkpointed file is looked for at start.
pub(crate) fn rotated_siblings(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let (dot, dash) = (format!("{name}."), format!("{name}-"));
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&dot) || n.starts_with(&dash))
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let g = Glob::parse("/var/log/*.log").unwrap();
        assert_eq!(g.dir(), Path::new("/var/log"));
        for (name, want) in [
            ("syslog.log", true),
            (".log", true),
            ("a.log.1", false),
            ("a.log.gz", false),
            ("alog", false),
        ] {
            assert_eq!(g.matches(name), want, "{name}");
        }
        let g = Glob::parse("/x/a?c*d*").unwrap();
        assert!(g.matches("abcd"));
        assert!(g.matches("abcxxdyy"));
        assert!(!g.matches("acd"));
        assert!(Glob::parse("/x/*").unwrap().matches("anything"));
    }

    #[test]
    fn control_plane_globs_match_the_control_plane_files() {
        let globs: Vec<Glob> = CONTROL_PLANE_GLOBS
            .iter()
            .map(|g| Glob::parse(g).unwrap())
            .collect();
        let hit = |name: &str| globs.iter().any(|g| g.matches(name));
        for name in [
            "kube-apiserver.log",
            "kube-scheduler.log",
            "kube-controller-manager.log",
            "etcd.log",
        ] {
            assert!(hit(name), "{name}");
        }
        for name in ["syslog", "kube-apiserver.log.1", "etcd.log.gz", "kern.log"] {
            assert!(!hit(name), "{name}");
        }
        assert!(globs.iter().all(|g| g.dir() == Path::new("/var/log")));
    }

    #[test]
    fn bad_patterns_are_clear_errors() {
        for p in ["var/log/*.log", "/var/*/x.log", "/x/[ab].log", "/"] {
            let e = Glob::parse(p).unwrap_err().to_string();
            assert!(e.contains("file pattern"), "{p}: {e}");
        }
        assert!(FileSource::new("/x/*.log", &["nolabel".into()], "j").is_err());
        assert!(FileSource::new("/x/*.log", &["filename=a".into()], "j").is_err());
        assert!(FileSource::new("/x/*.log", &["bad-name=a".into()], "j").is_err());
        let s = FileSource::new("/x/*.log", &["app=web".into()], "files").unwrap();
        assert_eq!(
            s.labels,
            [("app".into(), "web".into()), ("job".into(), "files".into())]
        );
    }

    #[test]
    fn lists_matching_files_and_rotated_siblings() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["a.log", "b.log", "a.log.1", "a.log-2024.gz", "c.txt"] {
            std::fs::write(dir.path().join(n), "x\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        let g = Glob::parse(&format!("{}/*.log", dir.path().display())).unwrap();
        assert_eq!(
            g.list(),
            [dir.path().join("a.log"), dir.path().join("b.log")]
        );
        assert_eq!(
            rotated_siblings(&dir.path().join("a.log")),
            [dir.path().join("a.log-2024.gz"), dir.path().join("a.log.1")]
        );
    }
}
