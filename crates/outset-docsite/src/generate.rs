//! The pre-build step: `[generate]` commands of site.conf, run with the freshly built binaries
//! first on `PATH`, each writing one file of the site (a picture made from the examples, say).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::Generate;
use crate::problem::Problem;

/// A command that has not finished by then is killed and reported: a hung tool must not hang CI.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `g` in `workdir` and writes its standard output to `out_dir/g.output`.
pub fn run(
    g: &Generate,
    conf: &Path,
    workdir: &Path,
    bin_dir: Option<&Path>,
    out_dir: &Path,
) -> Result<(), Problem> {
    let fail = |why: String| Problem::new(conf, g.line, format!("`{}`: {why}", g.command));
    let target = out_dir.join(&g.output);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
    }
    let stdout = File::create(&target)
        .map_err(|e| fail(format!("cannot create {}: {e}", target.display())))?;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(&g.command)
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped());
    if let Some(dir) = bin_dir {
        command.env("PATH", search_path(dir));
    }
    let mut child = command
        .spawn()
        .map_err(|e| fail(format!("cannot run sh: {e}")))?;
    // Read stderr on the side so a chatty command cannot fill the pipe and stall.
    let reader = child.stderr.take().map(|mut stderr| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        })
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "still running after {}s, killed",
                    TIMEOUT.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(fail(format!("cannot wait for it: {e}"))),
        }
    };
    let stderr = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    if !status.success() {
        let _ = std::fs::remove_file(&target);
        let code = status.code().map_or_else(
            || "killed by a signal".to_string(),
            |c| format!("exit status {c}"),
        );
        let stderr = stderr.trim();
        let detail = if stderr.is_empty() {
            String::new()
        } else {
            format!(":\n{}", indent(stderr))
        };
        return Err(fail(format!(
            "failed ({code}) while generating {}{detail}",
            g.output
        )));
    }
    let written = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    if written == 0 {
        return Err(fail(format!(
            "wrote nothing to standard output for {}",
            g.output
        )));
    }
    Ok(())
}

/// `bin_dir` first, then the inherited `PATH`.
fn search_path(bin_dir: &Path) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = vec![bin_dir.to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| bin_dir.as_os_str().to_owned())
}

fn indent(text: &str) -> String {
    text.lines()
        .take(20)
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
