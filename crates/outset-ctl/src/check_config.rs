//! `outsetctl check-config PATH…`: parse job files with no daemon running.

use std::io::Write;
use std::path::PathBuf;

/// Checks the job files under `paths`; prints `file:line:column: message` per error to `err`
/// and, with `show`, each job's normalised configuration to `out`. Returns the exit code.
pub fn run(paths: &[PathBuf], show: bool, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let _ = (paths, show, out);
    let _ = writeln!(err, "check-config: parser not wired yet");
    1
}
