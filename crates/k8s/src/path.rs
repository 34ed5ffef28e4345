//! Names of pod log directories and files, as the kubelet builds them (spec §2.1, §3.2),
//! and parsers that turn such paths back into typed identities.
//!
//! - [`PodLogPath`]: `<pods dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log`, and
//!   its rotations `<restart>.log.<YYYYMMDD-HHMMSS>` and `….gz` ([`Rotation`],
//!   [`RotationStamp`]). Parse it relative to the pods directory with
//!   [`PodLogPath::parse`], or a full path with [`PodLogPath::parse_under`].
//! - [`ContainerLogLink`]: the legacy `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`
//!   symlink name.
//!
//! Everything else is rejected with a [`PathReason`]: in particular the `.tmp` files of
//! an interrupted rotation, which an agent must never read. (A plain rotated file whose
//! `.gz` twin exists is also a leftover, but telling needs a directory listing.)
//!
//! ```
//! use kelp_k8s::path::{PodLogPath, Rotation};
//!
//! let p = PodLogPath::parse_under(
//!     "/var/log/pods",
//!     "/var/log/pods/shop_api-7d9c5b6f4d-x2x9q_0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b/api/3.log.20240601-121530.gz",
//! )
//! .unwrap();
//! assert_eq!((p.namespace, p.pod, p.container, p.restart), ("shop", "api-7d9c5b6f4d-x2x9q", "api", 3));
//! assert!(matches!(p.rotation, Rotation::RotatedGz { stamp } if stamp.to_string() == "20240601-121530"));
//! assert_eq!(p.live().to_string(), "shop_api-7d9c5b6f4d-x2x9q_0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b/api/3.log");
//!
//! let err = PodLogPath::parse("shop_api_uid/api/3.log.20240601-121530.tmp").unwrap_err();
//! assert_eq!(err.to_string(), "not a pod log path (byte 38): temporary file of an interrupted rotation");
//! ```

mod link;
mod names;
mod pod;
mod stamp;

pub use crate::error::PathReason;
pub use link::{ContainerLogLink, MAX_CONTAINER_ID};
pub use names::{MAX_LABEL, MAX_SUBDOMAIN};
pub use pod::{PodLogPath, Rotation};
pub use stamp::RotationStamp;

/// The default pod log root (`podLogsDir`).
pub const POD_LOGS_DIR: &str = "/var/log/pods";
/// The legacy flat symlink directory.
pub const CONTAINER_LOGS_DIR: &str = "/var/log/containers";
/// Longest symlink base name before `.log`; the kubelet truncates to fit ext4's 255 bytes.
pub const MAX_SYMLINK_STEM: usize = 251;

/// `<namespace>_<pod>_<uid>`: the pod's directory under [`POD_LOGS_DIR`].
pub fn pod_dir_name(namespace: &str, pod: &str, uid: &str) -> String {
    format!("{namespace}_{pod}_{uid}")
}

/// `<restart>.log`: a container instance's live log file name inside `<pod dir>/<container>/`.
pub fn log_file_name(restart: u32) -> String {
    format!("{restart}.log")
}

/// `<restart>.log.<YYYYMMDD-HHMMSS>`: a rotated file, named with the kubelet's local time
/// at one-second resolution (`stamp` is that 15-character text). Older rotations get `.gz`.
pub fn rotated_file_name(restart: u32, stamp: &str) -> String {
    format!("{restart}.log.{stamp}")
}

/// `<pod>_<namespace>_<container>-<container id>.log`: the legacy symlink name under
/// [`CONTAINER_LOGS_DIR`], with the stem truncated to [`MAX_SYMLINK_STEM`] bytes as the
/// kubelet does (the id may be cut).
pub fn legacy_symlink_name(pod: &str, namespace: &str, container: &str, id: &str) -> String {
    let mut stem = format!("{pod}_{namespace}_{container}-{id}");
    if stem.len() > MAX_SYMLINK_STEM {
        let mut cut = MAX_SYMLINK_STEM;
        // Names are ASCII in practice; stay on a char boundary regardless.
        while !stem.is_char_boundary(cut) {
            cut -= 1;
        }
        stem.truncate(cut);
    }
    stem.push_str(".log");
    stem
}
