//! The errors a disk call returns, and the injected I/O error windows (the `disk-error` fault)
//! that decide when a call fails. Plain data: the world owns the windows, the nemesis opens and
//! closes them, [`crate::disk::Disk`] asks them on every fallible call.
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a disk call failed, after `std::io::ErrorKind` (and the errno a real disk returns).
///
/// ```
/// use faultline::DiskError;
/// let e: std::io::Error = DiskError::NoSpace.into();
/// assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    /// No file has that name (ENOENT).
    #[error("no such file")]
    NotFound,
    /// `create_new` found the name taken (EEXIST).
    #[error("file exists")]
    AlreadyExists,
    /// An I/O error (EIO): a failed fsync (its unsynced writes are gone) or an unreadable sector.
    #[error("input/output error")]
    Eio,
    /// The disk is full (ENOSPC): nothing was written.
    #[error("no space left on device")]
    NoSpace,
}

impl From<DiskError> for std::io::Error {
    fn from(e: DiskError) -> Self {
        let kind = match e {
            DiskError::NotFound => std::io::ErrorKind::NotFound,
            DiskError::AlreadyExists => std::io::ErrorKind::AlreadyExists,
            DiskError::Eio => std::io::ErrorKind::Other,
            DiskError::NoSpace => std::io::ErrorKind::StorageFull,
        };
        std::io::Error::new(kind, e)
    }
}

/// The disk operation a `disk-error` fault makes fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskOp {
    /// `sync_data`/`sync_all` fail with EIO and drop the file's unsynced writes (fsyncgate).
    Fsync,
    /// `write_at`/`append`/`set_len` fail with ENOSPC and write nothing.
    Write,
    /// `read`/`read_at` fail with EIO (a latent sector error).
    Read,
}

impl DiskOp {
    /// The name written as `op:` in schedules.
    pub fn name(self) -> &'static str {
        match self {
            DiskOp::Fsync => "fsync",
            DiskOp::Write => "write",
            DiskOp::Read => "read",
        }
    }
}

impl fmt::Display for DiskOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One open error window: calls of `op` fail with probability `rate`, drawn from the step's own
/// stream so the fault never perturbs the rest of the run's randomness.
struct Window {
    step: usize,
    op: DiskOp,
    rate: f64,
    rng: ChaCha8Rng,
}

/// The error windows open on one disk.
#[derive(Default)]
pub(crate) struct ErrorWindows(Vec<Window>);

impl ErrorWindows {
    pub(crate) fn open(&mut self, step: usize, op: DiskOp, rate: f64, rng: ChaCha8Rng) {
        self.0.push(Window {
            step,
            op,
            rate,
            rng,
        });
    }

    pub(crate) fn close(&mut self, step: usize) {
        self.0.retain(|w| w.step != step);
    }

    /// Whether this call of `op` fails. Free when no window is open (the common case).
    pub(crate) fn fails(&mut self, op: DiskOp) -> bool {
        let mut hit = false;
        for w in self.0.iter_mut().filter(|w| w.op == op) {
            hit |= w.rng.gen_bool(w.rate);
        }
        hit
    }
}
