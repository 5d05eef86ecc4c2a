//! `outsetctl check-config`: initctl's check for conditions no job can satisfy, over the
//! daemon's jobs or, given paths, over job files with no daemon running.
//!
//! Paths: directories are searched recursively for `.conf` files with their `.override`s,
//! as the daemon loads them; a file named on the command line is checked whatever its
//! extension. Each parse error is `file:line:column: message` and a count ends the report.
//! Its output is tested by the case folders in `crates/outset/tests/cases/`.
//!
//! Conditions, as `initctl check-config`: a `start on`/`stop on` operand names an event no
//! job `emits` (glob patterns allowed) and that is not one of the daemon's own, or a job
//! event names a job that does not exist. An `or` is satisfied by either side (with
//! `--warn`, only by both); each unsatisfiable condition is reported with every unknown
//! event and job under it: the job's name, then `  start on: unknown event NAME` lines.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use outset_job::confdir::{self, LoadResult};
use outset_job::{Expr, JobConfig};

use crate::show_config::job_of;

/// The events the daemon emits itself (initctl's `IS_INIT_EVENT`, plus the `session-end`
/// of a user daemon, and `socket` and `file`, which outset makes itself where Upstart needed
/// its socket and file bridges: see docs/event-sources.md).
const INIT_EVENTS: [&str; 12] = [
    "startup",
    "debug",
    "control-alt-delete",
    "keyboard-request",
    "power-status-changed",
    "session-end",
    "starting",
    "started",
    "stopping",
    "stopped",
    "socket",
    "file",
];

/// What to check and how.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// `-i a,b`: events taken as emitted.
    pub ignore: Vec<String>,
    /// `-w`: an `or` needs both sides satisfiable.
    pub warn: bool,
    /// Only report these jobs (all when empty).
    pub only: Vec<String>,
    /// Parse only: no condition is checked (`--syntax-only`, for job files taken from
    /// several systems, whose events come from elsewhere).
    pub syntax_only: bool,
}

/// Whether a command-line argument names job files rather than a job: it exists, or looks
/// like a path (`/` in it, or a `.conf` name).
pub fn is_path(arg: &str) -> bool {
    arg.contains('/') || arg.ends_with(".conf") || arg == "." || Path::new(arg).exists()
}

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

/// Checks the job files under `paths`: prints `file:line:column: message` per parse error
/// to `err`, each job's unsatisfiable conditions to `out` and, with `show`, each job's
/// normalised configuration. Returns the exit code: 0 when everything parsed and every
/// condition can be met, 1 otherwise.
pub fn run(
    paths: &[PathBuf],
    show: bool,
    opts: &CheckOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut configs = Vec::new();
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
        for job in result.jobs {
            if show {
                let from = match &job.override_path {
                    Some(o) => format!("{}, {}", job.path.display(), o.display()),
                    None => job.path.display().to_string(),
                };
                let _ = writeln!(out, "# job: {} (from {from})", job.name);
                let _ = writeln!(out, "{}", outset_job::render(&job.config));
            }
            configs.push(job.config);
        }
    }
    let jobs = configs.len();
    match unreachable(&configs, opts) {
        Ok(_) if opts.syntax_only => {}
        Ok((text, n)) => {
            let _ = write!(out, "{text}");
            errors += n;
        }
        Err(e) => {
            let _ = writeln!(err, "outsetctl: {e}");
            errors += 1;
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

/// An operand or operator of a condition, evaluated: whether it can be satisfied, and the
/// unknown event and job of an operand.
struct Node<'a> {
    ok: bool,
    kids: Vec<Node<'a>>,
    event: Option<&'a str>,
    job: Option<String>,
}

struct Known<'a> {
    jobs: BTreeSet<&'a str>,
    emits: Vec<&'a str>,
    ignore: &'a [String],
    warn: bool,
}

/// Whether the daemon emits `event` itself: its own events, job events and (docs/devices.md)
/// device events.
pub fn is_daemon_event(event: &str) -> bool {
    INIT_EVENTS.contains(&event) || outset_job::is_device_event(event)
}

impl Known<'_> {
    fn event_ok(&self, event: &str) -> bool {
        is_daemon_event(event)
            || self.ignore.iter().any(|i| i == event)
            || self
                .emits
                .iter()
                .any(|p| outset_job::fnmatch::fnmatch(p, event))
    }

    fn job_ok(&self, job: &str) -> bool {
        // A `$VAR` (an instance's variable) cannot be known beforehand.
        self.jobs.contains(job) || job.starts_with('$')
    }

    /// The tree as initctl builds it from the reverse Polish form: an operator's first
    /// child is its right operand.
    fn eval<'e>(&self, e: &'e Expr) -> Node<'e> {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let (r, l) = (self.eval(b), self.eval(a));
                let ok = if matches!(e, Expr::And(..)) || self.warn {
                    r.ok && l.ok
                } else {
                    r.ok || l.ok
                };
                Node {
                    ok,
                    kids: vec![r, l],
                    event: None,
                    job: None,
                }
            }
            Expr::Event(m) => {
                let job = job_of(&m.name, &m.args)
                    .map(|(_, j)| j)
                    .filter(|j| !self.job_ok(j));
                let event = (!self.event_ok(&m.name)).then_some(m.name.as_str());
                Node {
                    ok: job.is_none() && event.is_none(),
                    kids: Vec::new(),
                    event,
                    job,
                }
            }
            Expr::Ready(_) => Node {
                ok: true,
                kids: Vec::new(),
                event: None,
                job: None,
            },
        }
    }
}

/// The first node in error, root first, then operators only, in pre-order.
fn first_error<'n, 'e>(n: &'n Node<'e>, root: bool) -> Option<&'n Node<'e>> {
    if (root || !n.kids.is_empty()) && !n.ok {
        return Some(n);
    }
    n.kids.iter().find_map(|k| first_error(k, false))
}

/// Every unknown event and job under `n`, in post-order.
fn report(n: &Node, stanza: &str, out: &mut String) {
    for k in &n.kids {
        report(k, stanza, out);
    }
    if let Some(e) = n.event {
        out.push_str(&format!("  {stanza}: unknown event {e}\n"));
    }
    if let Some(j) = &n.job {
        out.push_str(&format!("  {stanza}: unknown job {j}\n"));
    }
}

/// initctl's report of the conditions no job can satisfy among `jobs`, and how many
/// conditions are in error; an error when a job of `opts.only` does not exist.
pub fn unreachable(jobs: &[JobConfig], opts: &CheckOptions) -> Result<(String, usize), String> {
    let known = Known {
        jobs: jobs.iter().map(|j| j.name.as_str()).collect(),
        emits: jobs
            .iter()
            .flat_map(|j| j.emits.iter().map(String::as_str))
            .collect(),
        ignore: &opts.ignore,
        warn: opts.warn,
    };
    if let Some(missing) = opts.only.iter().find(|j| !known.jobs.contains(j.as_str())) {
        return Err(format!("Invalid job class: {missing}"));
    }
    let mut sorted: Vec<&JobConfig> = jobs.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    let mut errors = 0;
    for job in sorted {
        if !opts.only.is_empty() && !opts.only.contains(&job.name) {
            continue;
        }
        let mut shown = false;
        for (stanza, expr) in [("start on", &job.start_on), ("stop on", &job.stop_on)] {
            let Some(expr) = expr else { continue };
            let tree = known.eval(expr);
            if let Some(bad) = first_error(&tree, true) {
                errors += 1;
                if !shown {
                    out.push_str(&format!("{}\n", job.name));
                    shown = true;
                }
                report(bad, stanza, &mut out);
            }
        }
    }
    Ok((out, errors))
}

/// `check-config` against the daemon's jobs (what `initctl check-config` does): their texts
/// parsed back into configurations.
pub fn run_remote(socket: &Path, opts: &CheckOptions, io: &mut crate::verbs::Io) -> i32 {
    let texts = match crate::verbs::fetch_configs(socket, None) {
        Ok(t) => t,
        Err(e) => return crate::verbs::fail(io, &e),
    };
    let configs: Vec<JobConfig> = texts
        .iter()
        .filter_map(|t| outset_job::parse_job(&t.name, &t.text).ok())
        .collect();
    match unreachable(&configs, opts) {
        Ok((text, n)) => {
            let _ = write!(io.out, "{text}");
            i32::from(n > 0)
        }
        Err(e) => crate::verbs::fail(io, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(list: &[(&str, &str)]) -> Vec<JobConfig> {
        list.iter()
            .map(|(n, t)| outset_job::parse_job(n, t).unwrap())
            .collect()
    }

    fn check(list: &[(&str, &str)], opts: &CheckOptions) -> (String, usize) {
        unreachable(&jobs(list), opts).unwrap()
    }

    /// Issue 17 items 1 and 2: `socket` and `file` come from the daemon itself, so a job
    /// waiting for them is reachable without a bridge job.
    #[test]
    fn issue17_socket_and_file_events_are_the_daemons() {
        let (out, n) = check(
            &[
                (
                    "web",
                    "start on socket PROTO=inet PORT=80
stop on file FILE=/run/x EVENT=delete
exec /bin/w
",
                ),
                (
                    "odd",
                    "start on device-added
exec /bin/o
",
                ),
            ],
            &CheckOptions::default(),
        );
        assert_eq!(out, "odd\n  start on: unknown event device-added\n");
        assert_eq!(n, 1);
    }

    /// Issue 16 item 5: an unknown event and a missing job are reported as initctl does.
    #[test]
    fn issue16_item5_unknown_event_and_missing_job() {
        let (out, n) = check(
            &[
                (
                    "apple",
                    "start on starting grape\nstop on peach\nexec /bin/a\n",
                ),
                (
                    "pear",
                    "emits fruit-*\nstart on fruit-ripe or startup\nexec /bin/p\n",
                ),
                (
                    "plum",
                    "start on started pear and fruit-ripe\nexec /bin/p\n",
                ),
            ],
            &CheckOptions::default(),
        );
        assert_eq!(
            out,
            "apple\n  start on: unknown job grape\n  stop on: unknown event peach\n"
        );
        assert_eq!(n, 2);
    }

    #[test]
    fn issue17_item3_device_events_are_the_daemons_own() {
        let list = [(
            "net",
            "start on net-device-added INTERFACE=eth0\nstop on net-device-removed or ghost-event\nexec /bin/n\n",
        )];
        let warn = CheckOptions {
            warn: true,
            ..Default::default()
        };
        assert_eq!(
            check(&list, &warn),
            ("net\n  stop on: unknown event ghost-event\n".into(), 1)
        );
    }

    #[test]
    fn issue16_item5_or_needs_one_side_and_warn_needs_both() {
        let list = [(
            "a",
            "start on (startup or nope) and (ghost or startup)\nexec /bin/a\n",
        )];
        assert_eq!(check(&list, &CheckOptions::default()), (String::new(), 0));
        let warn = CheckOptions {
            warn: true,
            ..Default::default()
        };
        // The right operand's errors first, as initctl's tree walks.
        assert_eq!(
            check(&list, &warn),
            (
                "a\n  start on: unknown event ghost\n  start on: unknown event nope\n".into(),
                1
            )
        );
        // An `and` with one side unknown is reported from the first operator in error.
        let list = [("b", "start on startup or (nope and startup)\nexec /bin/b\n")];
        assert_eq!(
            check(&list, &CheckOptions::default()),
            ("b\n  start on: unknown event nope\n".into(), 1)
        );
    }

    #[test]
    fn issue16_item5_ignored_events_variables_and_job_filter() {
        let list = [
            ("a", "start on net-up\nexec /bin/a\n"),
            (
                "b",
                "start on started $JOB2 or stopped JOB=a\nexec /bin/b\n",
            ),
        ];
        let ignore = CheckOptions {
            ignore: vec!["net-up".into()],
            ..Default::default()
        };
        assert_eq!(check(&list, &ignore), (String::new(), 0));
        let only_b = CheckOptions {
            only: vec!["b".into()],
            ..Default::default()
        };
        assert_eq!(check(&list, &only_b), (String::new(), 0));
        let missing = CheckOptions {
            only: vec!["zz".into()],
            ..Default::default()
        };
        assert_eq!(
            unreachable(&jobs(&list), &missing).unwrap_err(),
            "Invalid job class: zz"
        );
    }

    #[test]
    fn paths_and_job_names() {
        assert!(is_path("init/"));
        assert!(is_path("x.conf"));
        assert!(is_path("."));
        assert!(!is_path("no-such-job-name"));
    }
}
