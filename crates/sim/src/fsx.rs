//! File creation with the modes containerd and the kubelet use.

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::SimError;

/// Opens a live log file as containerd does: `O_APPEND|O_CREAT`, mode `0640`.
pub(crate) fn open_log(path: &Path) -> Result<File, SimError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(SimError::io("open", path))
}

/// Creates a directory and its parents with mode `0755`, as the kubelet does.
pub(crate) fn make_dir(path: &Path) -> Result<(), SimError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(SimError::io("create directory", path))
}
