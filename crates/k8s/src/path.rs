//! Names of pod log directories and files, as the kubelet builds them.

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
