//! `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log`.

use std::path::Path;

use super::names::{dns_label, dns_subdomain};
use super::pod::strip_dir;
use super::MAX_SYMLINK_STEM;
use crate::error::{K8sError, PathReason};

/// Longest container id: 64 hex digits, as containerd, CRI-O and docker make them.
pub const MAX_CONTAINER_ID: usize = 64;

/// The identity in a legacy `/var/log/containers` symlink name, borrowed from it.
///
/// Prefer [`super::PodLogPath`]: this name has no pod UID and no restart count, and the
/// kubelet cuts it to [`MAX_SYMLINK_STEM`] bytes before `.log`, which can cut the id
/// (`truncated`). A cut that reaches into the container name cannot be detected; it
/// usually leaves a non-hex "id" and is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContainerLogLink<'a> {
    /// The pod's name (first in this name, unlike the pod directory).
    pub pod: &'a str,
    /// The pod's namespace.
    pub namespace: &'a str,
    /// The container's name (it may contain `-`: the id starts after the **last** `-`).
    pub container: &'a str,
    /// The runtime's container id, lowercase hex, without `containerd://`; only a prefix
    /// of it (possibly empty) when `truncated`.
    pub container_id: &'a str,
    /// Whether the name was cut to [`MAX_SYMLINK_STEM`] bytes, so the id may be partial.
    pub truncated: bool,
}

impl<'a> ContainerLogLink<'a> {
    /// Parses a symlink's file name, `<pod>_<namespace>_<container>-<id>.log`.
    ///
    /// # Errors
    ///
    /// [`K8sError::ContainerLogLink`] with the offset and a [`PathReason`]: no `.log`, a
    /// name longer than the kubelet writes, not three `_` fields, no `-<id>`, an invalid
    /// name, an id that is not lowercase hex of at most 64 digits (or empty while the name
    /// is not truncated).
    pub fn parse(file_name: &'a str) -> Result<Self, K8sError> {
        let fail = |offset, reason| K8sError::ContainerLogLink { offset, reason };
        let Some(stem) = file_name.strip_suffix(".log") else {
            return Err(fail(file_name.len(), PathReason::MissingLogExtension));
        };
        if stem.len() > MAX_SYMLINK_STEM {
            return Err(fail(
                MAX_SYMLINK_STEM,
                PathReason::TooLong {
                    max: MAX_SYMLINK_STEM,
                },
            ));
        }
        let truncated = stem.len() == MAX_SYMLINK_STEM;
        let mut fields = stem.split('_');
        let (Some(pod), Some(namespace), Some(rest), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(fail(
                0,
                PathReason::Fields {
                    found: stem.split('_').count(),
                },
            ));
        };
        let ns_at = pod.len() + 1;
        let rest_at = ns_at + namespace.len() + 1;
        let Some(dash) = rest.rfind('-') else {
            return Err(fail(rest_at + rest.len(), PathReason::MissingContainerId));
        };
        let (container, container_id) = (&rest[..dash], &rest[dash + 1..]);
        dns_subdomain(pod)
            .map_err(|(i, rule)| fail(i, PathReason::InvalidName { field: "pod", rule }))?;
        dns_label(namespace).map_err(|(i, rule)| {
            fail(
                ns_at + i,
                PathReason::InvalidName {
                    field: "namespace",
                    rule,
                },
            )
        })?;
        dns_label(container).map_err(|(i, rule)| {
            fail(
                rest_at + i,
                PathReason::InvalidName {
                    field: "container",
                    rule,
                },
            )
        })?;
        let id_at = rest_at + dash + 1;
        if container_id.is_empty() && !truncated {
            return Err(fail(id_at, PathReason::InvalidContainerId("empty")));
        }
        if container_id.len() > MAX_CONTAINER_ID {
            return Err(fail(
                id_at + MAX_CONTAINER_ID,
                PathReason::InvalidContainerId("longer than 64 digits"),
            ));
        }
        if let Some(i) = container_id
            .bytes()
            .position(|b| !(b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(fail(
                id_at + i,
                PathReason::InvalidContainerId("not lowercase hex"),
            ));
        }
        Ok(Self {
            pod,
            namespace,
            container,
            container_id,
            truncated,
        })
    }

    /// Parses a full path in `dir` (e.g. `/var/log/containers`); offsets in errors are
    /// offsets in `path`.
    ///
    /// # Errors
    ///
    /// As [`Self::parse`], and [`PathReason::NotUnderDir`] when `path` is not a file
    /// directly in `dir`.
    pub fn parse_under(dir: &str, path: &'a str) -> Result<Self, K8sError> {
        let fail = |offset, reason| K8sError::ContainerLogLink { offset, reason };
        let name = strip_dir(dir, path).map_err(|offset| fail(offset, PathReason::NotUnderDir))?;
        let shift = path.len() - name.len();
        if let Some(slash) = name.find('/') {
            return Err(fail(shift + slash, PathReason::NotUnderDir));
        }
        Self::parse(name).map_err(|e| match e {
            K8sError::ContainerLogLink { offset, reason } => fail(offset + shift, reason),
            other => other,
        })
    }

    /// [`Self::parse_under`] for [`Path`]s; paths that are not UTF-8 are rejected.
    ///
    /// # Errors
    ///
    /// As [`Self::parse_under`], and [`PathReason::NotUtf8`].
    pub fn from_path(dir: &Path, path: &'a Path) -> Result<Self, K8sError> {
        let (Some(dir), Some(path)) = (dir.to_str(), path.to_str()) else {
            return Err(K8sError::ContainerLogLink {
                offset: 0,
                reason: PathReason::NotUtf8,
            });
        };
        Self::parse_under(dir, path)
    }
}
