//! Command-line options of the `outset` daemon.

use std::path::PathBuf;

use clap::Parser;

/// outset: an event-driven init system and service supervisor for Upstart jobs.
#[derive(Debug, Clone, Parser)]
#[command(name = "outset", version, about)]
pub struct Args {
    /// Run as a per-user supervisor (subreaper, user paths, changes allowed for the owner).
    #[arg(long)]
    pub user: bool,
    /// Directory of job files; repeatable, searched in order (the first owning a name wins).
    #[arg(long = "confdir", value_name = "DIR")]
    pub confdirs: Vec<PathBuf>,
    /// Directory for job output logs. Not used yet: no job log is written, and `console log`
    /// output is discarded until log capture lands.
    #[arg(long, value_name = "DIR")]
    pub logdir: Option<PathBuf>,
    /// Control socket path.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// cgroup v2 directory under which job cgroups are created.
    #[arg(long, value_name = "PATH")]
    pub cgroup_root: Option<PathBuf>,
    /// Do not emit the startup event.
    #[arg(long)]
    pub no_startup_event: bool,
    /// Name of the startup event.
    #[arg(long, value_name = "NAME", default_value = "startup")]
    pub startup_event: String,
    /// Take the state a re-exec handed over from this fd (a memfd; docs/reexec.md).
    #[arg(long, value_name = "FD")]
    pub state_fd: Option<i32>,
    /// Only check that the state behind FD can be taken, then exit 0 (or 1 with why): what
    /// a re-exec asks of its target before it execs.
    #[arg(long, value_name = "FD")]
    pub check_state: Option<i32>,
    /// SIGTERM re-executes the daemon, keeping every job, as it does for init (PID 1 of the
    /// initial PID namespace), instead of stopping every job.
    #[arg(long)]
    pub sigterm_reexec: bool,
    /// How jobs are tracked: `cgroup` (each job's `track` stanza decides) or `ptrace` (every
    /// job's launch chain is also followed with ptrace, as `track ptrace` does).
    #[arg(long, value_name = "MODE", default_value = "cgroup", value_parser = ["cgroup", "ptrace"])]
    pub track: String,
    /// Verbose logging.
    #[arg(long)]
    pub debug: bool,
}
