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
    /// Directory of `console log` job output (default: /var/log/outset; in --user mode the
    /// user's cache directory, `$XDG_CACHE_HOME/outset`).
    #[arg(long, value_name = "DIR")]
    pub logdir: Option<PathBuf>,
    /// Log no job output: `console log` behaves as `console none`.
    #[arg(long)]
    pub no_log: bool,
    /// The console of jobs without a `console` stanza: log, output, owner or none.
    #[arg(long, value_name = "VALUE", default_value = "log", value_parser = ["log", "output", "owner", "none"])]
    pub default_console: String,
    /// Rotate a job's log once it would pass SIZE bytes (K, M, G suffixes; `off`: never),
    /// unless the job's `log rotate` says otherwise.
    #[arg(long, value_name = "SIZE", default_value = "10M")]
    pub log_rotate_size: String,
    /// How many rotated files (`JOB.log.1`, …) to keep.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub log_rotate_keep: u32,
    /// The terminal `console output` and `console owner` jobs get (default: /dev/console
    /// when the daemon is PID 1, else the daemon's own stdin, stdout and stderr).
    #[arg(long, value_name = "PATH")]
    pub console_device: Option<PathBuf>,
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
    /// Read serialised state from this fd (re-exec).
    #[arg(long, value_name = "FD")]
    pub state_fd: Option<i32>,
    /// How jobs are tracked: `cgroup` (each job's `track` stanza decides) or `ptrace` (every
    /// job's launch chain is also followed with ptrace, as `track ptrace` does).
    #[arg(long, value_name = "MODE", default_value = "cgroup", value_parser = ["cgroup", "ptrace"])]
    pub track: String,
    /// Verbose logging.
    #[arg(long)]
    pub debug: bool,
}
