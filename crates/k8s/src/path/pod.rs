//! `<pods dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log[.<stamp>[.gz]]`.

use std::fmt;
use std::path::Path;

use memchr::memchr;

use super::names::{dns_label, dns_subdomain};
use super::stamp::{RotationStamp, STAMP_LEN};
use crate::error::{K8sError, PathReason};

/// Which file of a container instance's log a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rotation {
    /// `<restart>.log`: the file the runtime writes.
    Live,
    /// `<restart>.log.<stamp>`: the newest rotated file, plain text until the next
    /// rotation compresses it.
    Rotated {
        /// When the kubelet renamed it (its local time).
        stamp: RotationStamp,
    },
    /// `<restart>.log.<stamp>.gz`: an older rotated file, gzipped CRI text.
    RotatedGz {
        /// When the kubelet renamed it (its local time).
        stamp: RotationStamp,
    },
}

impl Rotation {
    /// The rotation stamp, for rotated files.
    pub fn stamp(&self) -> Option<RotationStamp> {
        match *self {
            Rotation::Live => None,
            Rotation::Rotated { stamp } | Rotation::RotatedGz { stamp } => Some(stamp),
        }
    }
}

/// The identity of a pod log file, borrowed from its path. [`fmt::Display`] prints the
/// path relative to the pods directory, as [`PodLogPath::parse`] reads it.
///
/// Valid names are checked as Kubernetes validates them: the namespace and container
/// name are DNS-1123 labels, the pod name a DNS-1123 subdomain; none can contain `_`. The
/// UID is the last `_` field, as the kubelet takes it, and only needs to be non-empty: a
/// 36-character UUID for API pods, a 32-hex-digit config hash for static pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PodLogPath<'a> {
    /// The pod's namespace.
    pub namespace: &'a str,
    /// The pod's name.
    pub pod: &'a str,
    /// The pod's UID (for a static pod, the kubelet's config hash).
    pub uid: &'a str,
    /// The container's name.
    pub container: &'a str,
    /// The restart count (CRI `Attempt`) of the container instance that wrote the file.
    pub restart: u32,
    /// Live file or rotated one.
    pub rotation: Rotation,
}

impl<'a> PodLogPath<'a> {
    /// Parses a path relative to the pods directory:
    /// `<namespace>_<pod>_<uid>/<container>/<restart>.log[.<YYYYMMDD-HHMMSS>[.gz]]`.
    ///
    /// # Errors
    ///
    /// [`K8sError::PodLogPath`] with the offset of the problem and a [`PathReason`]: not
    /// three components ([`PathReason::Depth`]), a pod directory without exactly three `_`
    /// fields ([`PathReason::Fields`]), an invalid name, an empty UID, a file that is not
    /// `<restart>.log` with a canonical `u32` restart count, a `.tmp` left by an
    /// interrupted rotation ([`PathReason::RotationTemp`]), a bad stamp, another suffix.
    pub fn parse(relative: &'a str) -> Result<Self, K8sError> {
        let fail = |offset, reason| K8sError::PodLogPath { offset, reason };
        let mut parts = [""; 3];
        let mut starts = [0usize; 3];
        let mut found = 0;
        let mut at = 0;
        for part in relative.split('/') {
            if found == 3 {
                return Err(fail(
                    at,
                    PathReason::Depth {
                        found: relative.split('/').count(),
                    },
                ));
            }
            if part.is_empty() {
                return Err(fail(at, PathReason::EmptyComponent));
            }
            parts[found] = part;
            starts[found] = at;
            found += 1;
            at += part.len() + 1;
        }
        if found < 3 {
            return Err(fail(relative.len(), PathReason::Depth { found }));
        }
        let [dir, container, file] = parts;
        let (namespace, pod, uid) = pod_dir(dir, starts[0])?;
        dns_label(container).map_err(|(i, rule)| {
            fail(
                starts[1] + i,
                PathReason::InvalidName {
                    field: "container",
                    rule,
                },
            )
        })?;
        let (restart, rotation) = log_file_name(file, starts[2])?;
        Ok(Self {
            namespace,
            pod,
            uid,
            container,
            restart,
            rotation,
        })
    }

    /// Parses a full path below `pods_dir` (the kubelet's `podLogsDir`, e.g.
    /// `/var/log/pods`, or `/host/var/log/pods` when the node's root is mounted
    /// elsewhere). Offsets in errors are offsets in `path`.
    ///
    /// # Errors
    ///
    /// As [`Self::parse`], and [`PathReason::NotUnderDir`] when `path` is not inside
    /// `pods_dir`.
    pub fn parse_under(pods_dir: &str, path: &'a str) -> Result<Self, K8sError> {
        let rel = strip_dir(pods_dir, path).map_err(|offset| K8sError::PodLogPath {
            offset,
            reason: PathReason::NotUnderDir,
        })?;
        let shift = path.len() - rel.len();
        Self::parse(rel).map_err(|e| match e {
            K8sError::PodLogPath { offset, reason } => K8sError::PodLogPath {
                offset: offset + shift,
                reason,
            },
            other => other,
        })
    }

    /// [`Self::parse_under`] for [`Path`]s; paths that are not UTF-8 are rejected
    /// ([`PathReason::NotUtf8`]: valid names are ASCII).
    ///
    /// # Errors
    ///
    /// As [`Self::parse_under`].
    pub fn from_path(pods_dir: &Path, path: &'a Path) -> Result<Self, K8sError> {
        let not_utf8 = K8sError::PodLogPath {
            offset: 0,
            reason: PathReason::NotUtf8,
        };
        let (Some(dir), Some(path)) = (pods_dir.to_str(), path.to_str()) else {
            return Err(not_utf8);
        };
        Self::parse_under(dir, path)
    }

    /// Whether the UID is a static pod's config hash (32 hex digits, no dashes). Join a
    /// static pod to its API mirror pod on the `kubernetes.io/config.mirror` annotation.
    pub fn is_static_pod(&self) -> bool {
        self.uid.len() == 32 && self.uid.bytes().all(|b| b.is_ascii_hexdigit())
    }

    /// The live file this file is, or was rotated from (same instance, [`Rotation::Live`]).
    pub fn live(&self) -> Self {
        Self {
            rotation: Rotation::Live,
            ..*self
        }
    }
}

impl fmt::Display for PodLogPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}_{}/{}/{}.log",
            self.namespace, self.pod, self.uid, self.container, self.restart
        )?;
        match self.rotation {
            Rotation::Live => Ok(()),
            Rotation::Rotated { stamp } => write!(f, ".{stamp}"),
            Rotation::RotatedGz { stamp } => write!(f, ".{stamp}.gz"),
        }
    }
}

/// `path` without `dir` and the `/` after it, or the offset where they differ.
pub(crate) fn strip_dir<'p>(dir: &str, path: &'p str) -> Result<&'p str, usize> {
    let dir = dir.trim_end_matches('/');
    match path.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
        Some(rel) => Ok(rel),
        None => Err(dir
            .bytes()
            .chain([b'/'])
            .zip(path.bytes())
            .take_while(|(a, b)| a == b)
            .count()),
    }
}

/// `<namespace>_<pod>_<uid>` at offset `at`.
fn pod_dir(dir: &str, at: usize) -> Result<(&str, &str, &str), K8sError> {
    let fail = |offset, reason| K8sError::PodLogPath { offset, reason };
    let mut fields = dir.split('_');
    let (Some(namespace), Some(pod), Some(uid), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(fail(
            at,
            PathReason::Fields {
                found: dir.split('_').count(),
            },
        ));
    };
    dns_label(namespace).map_err(|(i, rule)| {
        fail(
            at + i,
            PathReason::InvalidName {
                field: "namespace",
                rule,
            },
        )
    })?;
    let pod_at = at + namespace.len() + 1;
    dns_subdomain(pod)
        .map_err(|(i, rule)| fail(pod_at + i, PathReason::InvalidName { field: "pod", rule }))?;
    if uid.is_empty() {
        return Err(fail(pod_at + pod.len() + 1, PathReason::EmptyUid));
    }
    Ok((namespace, pod, uid))
}

/// `<restart>.log[.<stamp>[.gz]]` at offset `at`.
fn log_file_name(name: &str, at: usize) -> Result<(u32, Rotation), K8sError> {
    let fail = |offset, reason| K8sError::PodLogPath { offset, reason };
    let b = name.as_bytes();
    let digits = memchr(b'.', b).unwrap_or(b.len());
    let restart = restart_count(&name[..digits])
        .map_err(|(i, rule)| fail(at + i, PathReason::InvalidRestart(rule)))?;
    let Some(suffix) = name[digits..].strip_prefix(".log") else {
        return Err(fail(at + digits, PathReason::NotALogFile));
    };
    let suffix_at = at + digits + 4;
    if suffix.is_empty() {
        return Ok((restart, Rotation::Live));
    }
    if suffix.ends_with(".tmp") {
        return Err(fail(at + name.len() - 4, PathReason::RotationTemp));
    }
    let Some(rest) = suffix.strip_prefix('.') else {
        return Err(fail(suffix_at, PathReason::UnknownSuffix));
    };
    let (stamp, gz) = match rest.strip_suffix(".gz") {
        Some(s) => (s, true),
        None => (rest, false),
    };
    if stamp.len() != STAMP_LEN && !looks_like_stamp(stamp) {
        return Err(fail(suffix_at, PathReason::UnknownSuffix));
    }
    let stamp = RotationStamp::parse_at(stamp, suffix_at + 1)?;
    Ok((
        restart,
        if gz {
            Rotation::RotatedGz { stamp }
        } else {
            Rotation::Rotated { stamp }
        },
    ))
}

/// Whether `s` starts like a stamp (8 digits and `-`), so a malformed one is reported as
/// a bad stamp rather than an unknown suffix.
fn looks_like_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 9 && b[..8].iter().all(u8::is_ascii_digit) && b[8] == b'-'
}

/// A restart count as the kubelet writes it (`%d`): no sign, no leading zero, a `u32`.
fn restart_count(s: &str) -> Result<u32, (usize, &'static str)> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err((0, "expected digits"));
    }
    if let Some(i) = b.iter().position(|c| !c.is_ascii_digit()) {
        return Err((i, "expected digits"));
    }
    if b.len() > 1 && b[0] == b'0' {
        return Err((0, "leading zero"));
    }
    s.parse().map_err(|_| (0, "too large"))
}
