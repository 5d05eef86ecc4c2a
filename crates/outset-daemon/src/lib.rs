//! outset-daemon.

/// Runs the daemon; returns the process exit code.
pub fn main() -> i32 {
    0
}
