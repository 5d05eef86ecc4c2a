//! How a process ended: the one exit-status value of outset.
//!
//! It lives here, in a pure crate that both the engine and the Linux layer use, so that
//! `outset-sys` decodes wait statuses straight into the type the engine decides on, and the
//! engine still has no path to `outset-sys`. Stops are not endings: the Linux layer reports
//! them apart (`outset_sys::reap::stop_signal`, `outset_sys::ptrace::classify_stop`).

use serde::{Deserialize, Serialize};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExitStatus {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// Whether it is `exit(0)`.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}
