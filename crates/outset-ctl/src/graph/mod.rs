//! `outsetctl graph`: the jobs and the events that connect them, as DOT or as SVG (drawn by
//! Graphviz's `dot` when it is installed, else by outset itself), from the running daemon's
//! jobs or, with `--conf-dir`, from job files with no daemon. See docs/graph.md.

pub mod dot;
pub mod layout;
pub mod model;
pub mod svg;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use outset_job::JobConfig;

use crate::verbs::{Io, fail};

/// Who draws the SVG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Renderer {
    /// outset's own layered layout.
    Outset,
    /// Graphviz's `dot -Tsvg`.
    Dot,
}

/// What `graph` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphArgs {
    pub svg: bool,
    /// Forces a renderer (and SVG).
    pub renderer: Option<Renderer>,
    /// Only this job's neighbourhood, `depth` steps either way.
    pub job: Option<String>,
    pub depth: usize,
    /// Job files from these conf dirs instead of the daemon's jobs.
    pub conf_dirs: Vec<PathBuf>,
}

/// The comment Graphviz's SVG gets after its XML declaration.
pub const RENDERED_BY_DOT: &str = "<!-- rendered by graphviz dot -->";

/// `graph`: writes the DOT or SVG to `io.out`; returns the exit code.
pub fn run(socket: &Path, args: &GraphArgs, io: &mut Io) -> i32 {
    let jobs = match jobs(socket, &args.conf_dirs, io) {
        Ok(j) => j,
        Err(e) => return fail(io, &e),
    };
    let mut graph = model::build(&jobs);
    if let Some(job) = &args.job {
        match graph.neighbourhood(job, args.depth) {
            Some(g) => graph = g,
            None => return fail(io, &format!("graph: unknown job {job}")),
        }
    }
    if !args.svg && args.renderer.is_none() {
        let _ = io.out.write_all(dot::write(&graph).as_bytes());
        return 0;
    }
    let graphviz = match args.renderer {
        Some(Renderer::Outset) => None,
        Some(Renderer::Dot) => match find_on_path("dot") {
            Some(p) => Some(p),
            None => return fail(io, "graph: Graphviz's dot is not on PATH"),
        },
        None => find_on_path("dot"),
    };
    if let Some(bin) = graphviz {
        match run_dot(&bin, &dot::write(&graph)) {
            Ok(svg) => {
                if io.verbose {
                    let _ = writeln!(io.err, "{}: graph rendered by graphviz dot", io.prog);
                }
                let _ = io.out.write_all(mark_dot_svg(&svg).as_bytes());
                return 0;
            }
            Err(e) if args.renderer == Some(Renderer::Dot) => {
                return fail(io, &format!("graph: {e}"));
            }
            Err(e) => {
                let _ = writeln!(
                    io.err,
                    "{}: graph: {e}; drawing it with outset's own renderer",
                    io.prog
                );
            }
        }
    }
    if io.verbose {
        let _ = writeln!(io.err, "{}: graph rendered by outset", io.prog);
    }
    let _ = io.out.write_all(svg::write(&graph).as_bytes());
    0
}

/// The jobs: parsed from the conf dirs (their errors reported on `io.err`, the rest drawn),
/// or the daemon's, parsed back from their texts as `show-config` does.
fn jobs(socket: &Path, conf_dirs: &[PathBuf], io: &mut Io) -> Result<Vec<JobConfig>, String> {
    if !conf_dirs.is_empty() {
        if let Some(d) = conf_dirs.iter().find(|d| !d.is_dir()) {
            return Err(format!("graph: {}: not a directory", d.display()));
        }
        let loaded = outset_job::confdir::load_dirs(conf_dirs);
        for d in &loaded.errors {
            let _ = writeln!(io.err, "{d}");
        }
        return Ok(loaded.jobs.into_iter().map(|j| j.config).collect());
    }
    let texts = crate::verbs::fetch_configs(socket, None)?;
    let mut jobs = Vec::with_capacity(texts.len());
    for t in texts {
        if let Some(why) = t.text.strip_prefix("# not shown: ") {
            let _ = writeln!(io.err, "{}: {}: {}", io.prog, t.name, why.trim_end());
            continue;
        }
        match outset_job::parse_job(&t.name, &t.text) {
            Ok(c) => jobs.push(c),
            Err(e) => {
                let _ = writeln!(io.err, "{}: {}: {e}", io.prog, t.name);
            }
        }
    }
    Ok(jobs)
}

/// An executable file named `name` in a directory of `$PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `dot -Tsvg` on `text`: its SVG, or why it failed.
fn run_dot(bin: &Path, text: &str) -> Result<String, String> {
    let mut child = Command::new(bin)
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    // Written from a thread: dot may fill its output pipe before it has read all of ours.
    let writer = child.stdin.take().map(|mut stdin| {
        let text = text.to_string();
        std::thread::spawn(move || stdin.write_all(text.as_bytes()))
    });
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if let Some(w) = writer {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("{}: writing its input: {e}", bin.display())),
            Err(_) => return Err(format!("{}: writing its input failed", bin.display())),
        }
    }
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            bin.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| format!("{}: output is not UTF-8", bin.display()))
}

/// Graphviz's SVG with [`RENDERED_BY_DOT`] after its XML declaration (or first).
pub fn mark_dot_svg(svg: &str) -> String {
    match svg.split_once('\n') {
        Some((first, rest)) if first.starts_with("<?xml") => {
            format!("{first}\n{RENDERED_BY_DOT}\n{rest}")
        }
        _ => format!("{RENDERED_BY_DOT}\n{svg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_item3_dot_svg_is_marked_after_the_declaration() {
        assert_eq!(
            mark_dot_svg("<?xml version=\"1.0\"?>\n<svg/>\n"),
            format!("<?xml version=\"1.0\"?>\n{RENDERED_BY_DOT}\n<svg/>\n")
        );
        assert_eq!(mark_dot_svg("<svg/>"), format!("{RENDERED_BY_DOT}\n<svg/>"));
    }
}
