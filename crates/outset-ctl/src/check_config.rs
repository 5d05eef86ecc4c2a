//! `outsetctl check-config PATH…`: parse job files with no daemon running.
//!
//! Directories are searched recursively for `.conf` files with their `.override`s, as the
//! daemon loads them; a file named on the command line is checked whatever its extension.
//! Its output is tested by the case folders in `crates/outset/tests/cases/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use outset_job::confdir::{self, LoadResult};

/// The job name for a file given on the command line: its file name minus `.conf`.
fn file_job_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    match name.strip_suffix(".conf") {
        Some(stem) if !stem.is_empty() => stem.to_string(),
        _ => name,
    }
}

fn load(path: &Path) -> LoadResult {
    if path.is_dir() {
        return confdir::load_dir(path);
    }
    let (job, errors) = confdir::load_file(path, &file_job_name(path));
    LoadResult {
        jobs: job.into_iter().collect(),
        errors,
    }
}

/// Checks the job files under `paths`; prints `file:line:column: message` per error to `err`
/// and, with `show`, each job's normalised configuration to `out`. Returns the exit code:
/// 0 when everything parsed, 1 otherwise.
pub fn run(paths: &[PathBuf], show: bool, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut jobs = 0;
    let mut errors = 0;
    for path in paths {
        if !path.exists() {
            let _ = writeln!(err, "{}: no such file or directory", path.display());
            errors += 1;
            continue;
        }
        let result = load(path);
        for d in &result.errors {
            let _ = writeln!(err, "{d}");
        }
        errors += result.errors.len();
        for job in &result.jobs {
            jobs += 1;
            if show {
                let from = match &job.override_path {
                    Some(o) => format!("{}, {}", job.path.display(), o.display()),
                    None => job.path.display().to_string(),
                };
                let _ = writeln!(out, "# job: {} (from {from})", job.name);
                let _ = writeln!(out, "{}", outset_job::render(&job.config));
            }
        }
    }
    let _ = writeln!(
        err,
        "outsetctl: {jobs} job{} checked, {errors} error{}",
        if jobs == 1 { "" } else { "s" },
        if errors == 1 { "" } else { "s" }
    );
    i32::from(errors > 0)
}
