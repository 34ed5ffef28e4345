//! What the runtime thread (containerd) and the kubelet thread tell each other: the few CRI
//! calls and events the simulation needs.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A container instance the runtime started (its log file and symlink exist).
#[derive(Debug, Clone)]
pub(crate) struct InstanceInfo {
    pub(crate) pod_uid: String,
    pub(crate) container: String,
    /// The live log file `<pod dir>/<container>/<restart>.log` (the CRI `log_path`).
    pub(crate) log_path: PathBuf,
    /// The `/var/log/containers` symlink to it.
    pub(crate) symlink: PathBuf,
    /// Where the kubelet hands a reopened file to the runtime.
    pub(crate) reopen: Arc<Reopen>,
}

/// Runtime → kubelet.
#[derive(Debug)]
pub(crate) enum Event {
    /// A container instance started.
    Started(InstanceInfo),
    /// A container instance exited (it will not write again).
    Exited { pod_uid: String, container: String },
    /// A pod was stopped for deletion: remove its directory and symlinks.
    PodRemoved { pod_uid: String, dir: PathBuf },
}

/// Kubelet → runtime.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Command {
    /// Make a container exit and start its next instance: the pod in `slot` (modulo the pod
    /// count), its container number `container` (modulo its container count).
    Restart { slot: u64, container: u64 },
    /// Delete the pod in `slot` and start a replacement.
    DeletePod { slot: u64 },
}

/// `ReopenContainerLog`, made synchronous the way containerd's is: the kubelet opens the new
/// live file itself and leaves it here; the runtime swaps it in before its next record, and
/// until then keeps writing to its old descriptor (now the rotated file).
#[derive(Debug, Default)]
pub(crate) struct Reopen {
    pending: AtomicBool,
    inner: Mutex<ReopenState>,
}

/// The state behind [`Reopen`]'s lock.
#[derive(Debug, Default)]
pub(crate) struct ReopenState {
    /// The instance has exited: `ReopenContainerLog` fails ("container is not running").
    pub(crate) exited: bool,
    /// A reopened live file not yet taken by the runtime.
    pub(crate) file: Option<File>,
}

impl Reopen {
    /// Whether a reopened file waits (cheap: one atomic load per record).
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Locks the state. A panic while holding the lock leaves nothing half-done (each
    /// critical section is a field assignment), so a poisoned lock is used as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ReopenState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Kubelet side: hands `file` over (the caller holds `state`).
    pub(crate) fn offer(&self, state: &mut ReopenState, file: File) {
        state.file = Some(file);
        self.pending.store(true, Ordering::Release);
    }

    /// Runtime side: takes the reopened file, if any.
    pub(crate) fn take(&self) -> Option<File> {
        let mut state = self.lock();
        self.pending.store(false, Ordering::Release);
        state.file.take()
    }

    /// Runtime side: the instance exited; later reopens fail.
    pub(crate) fn exit(&self) {
        let mut state = self.lock();
        state.exited = true;
        state.file = None;
        self.pending.store(false, Ordering::Release);
    }
}
