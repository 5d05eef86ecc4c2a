//! outset-ctl.

/// Runs the client; returns the process exit code.
pub fn main() -> i32 {
    0
}
